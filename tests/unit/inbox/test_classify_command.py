"""`leadflow inbox classify FILE.eml…`: one JSON object per file, in the order given, with exactly the
documented fields; a folder stands for its .eml files; a file that cannot be read gets an object with its
error in its place and the command exits 1."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app

FIELDS = ["file", "kind", "bounced_recipient", "in_reply_to", "status", "rule"]

REPLY = (
    b"From: Jan <jan@klient.cz>\r\nTo: ana@firma.cz\r\nSubject: Re: Nabidka\r\n"
    b"In-Reply-To: <0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>\r\n\r\nDobry den, mame zajem.\r\n"
)
BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.klient.cz>\r\nTo: ana@firma.cz\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n\r\n"
    b"This is the mail system at host mx.klient.cz.\r\n\r\nI'm sorry to have to inform you that your message"
    b" could not\r\nbe delivered to one or more recipients.\r\n\r\n"
    b"<petr@klient.cz>: host mx.klient.cz[192.0.2.1] said: 550 5.1.1 <petr@klient.cz>:\r\n"
    b"    Recipient address rejected: User unknown in virtual mailbox table\r\n"
)


def run(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["inbox", "classify", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines


def test_one_object_per_file_in_the_order_given(tmp_path: Path) -> None:
    (tmp_path / "b.eml").write_bytes(BOUNCE)
    (tmp_path / "a.eml").write_bytes(REPLY)
    code, out = run(str(tmp_path / "b.eml"), str(tmp_path / "a.eml"), str(tmp_path / "b.eml"))
    assert code == 0
    assert [list(o)[:6] for o in out] == [FIELDS] * 3
    assert [(o["file"], o["kind"]) for o in out] == [
        (str(tmp_path / "b.eml"), "hard_bounce"),
        (str(tmp_path / "a.eml"), "reply"),
        (str(tmp_path / "b.eml"), "hard_bounce"),
    ]
    assert out[0] | {"file": None, "rule": None} == {
        "file": None,
        "kind": "hard_bounce",
        "bounced_recipient": "petr@klient.cz",
        "in_reply_to": None,
        "status": "5.1.1",
        "rule": None,
        "return_date": None,
    }
    assert out[1]["in_reply_to"] == "<0b9c3a8e-5f1d-4c47-9a51-2f3e8d6c7b10@firma.cz>"
    assert all(isinstance(o["rule"], str) and o["rule"] for o in out)


def test_a_folder_stands_for_its_messages(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "2.eml").write_bytes(BOUNCE)
    (tmp_path / "inbox" / "1.eml").write_bytes(REPLY)
    (tmp_path / "inbox" / "notes.txt").write_text("not a message")
    code, out = run(str(tmp_path / "inbox"))
    assert code == 0
    assert [(Path(str(o["file"])).name, o["kind"]) for o in out] == [
        ("1.eml", "reply"),
        ("2.eml", "hard_bounce"),
    ]


def test_an_unreadable_file_is_reported_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(REPLY)
    code, out = run(str(tmp_path / "missing.eml"), str(tmp_path / "a.eml"))
    assert code == 1
    assert out[0]["file"] == str(tmp_path / "missing.eml")
    assert out[0]["kind"] is None and "No such file" in str(out[0]["error"])
    assert out[1]["kind"] == "reply"
