"""`leadflow up` with nothing configured: embedded NATS and PostgreSQL, every service, data kept across runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import nats
import nats.errors
import psutil
import pytest

from services.runtime.embedded import free_port
from tests.peers.fakedns import start as start_dns
from tests.peers.fakedns import stop as stop_dns
from tests.peers.fakemx import FakeMx, MxBehaviour

KEY_LINE = re.compile(r"Dev API key\s+(lf_\S+)")
BANNER = "Leadflow is running.\n"


def environment(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}, **extra}


class Up:
    def __init__(self, data_dir: Path, port: int, **extra_env: str) -> None:
        self.env = environment(LEADFLOW_DATA_DIR=str(data_dir), LEADFLOW_HTTP_PORT=str(port), **extra_env)
        self.url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        self.key: str | None = None
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if match := KEY_LINE.search(line):
                self.key = match.group(1)
                self.ready.set()

    def wait_ready(self, timeout: float = 90) -> str:
        if not self.ready.wait(timeout):
            self.process.kill()
            pytest.fail("leadflow up did not print its banner:\n" + "".join(self.output[-60:]))
        assert self.key is not None
        return self.key

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def before_banner(self) -> list[str]:
        return [line for line in self.output[: self.output.index(BANNER)] if line.strip()]

    def after_banner(self) -> list[str]:
        return [line for line in self.output[self.output.index(BANNER) :] if line.strip()][8:]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="leadflow-up-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def elsewhere() -> Iterator[dict[str, str]]:
    """Another working directory, and a state folder of the test's own (where `leadflow up` records
    itself for commands run from any directory), so stacks of other test runs are not seen."""
    path = Path(tempfile.mkdtemp(prefix="leadflow-elsewhere-"))
    (path / "cwd").mkdir()
    yield {"cwd": str(path / "cwd"), "XDG_STATE_HOME": str(path / "state")}
    shutil.rmtree(path, ignore_errors=True)


def leadflow_from(place: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A `leadflow` command run as a user would in another directory: no LEADFLOW_* variable but `env`."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=place["cwd"],
        env=environment(XDG_STATE_HOME=place["XDG_STATE_HOME"], **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def mail_peers() -> Iterator[dict[str, str]]:
    """DNS and MX for the walk-through's addresses, so `leadflow up`'s validator has something real to
    verify: firma.cz has an MX that knows ana@, jina.cz does not exist."""
    dns, dns_port = start_dns("firma.cz. 0 IN MX 10 mx.firma.cz.\nmx.firma.cz. 0 IN A 127.0.0.2\n")
    smtp_port = free_port()
    mx = FakeMx(MxBehaviour(mailboxes={"ana@firma.cz"}), smtp_port).start("127.0.0.2")
    try:
        yield {
            "LEADFLOW_DNS_NAMESERVERS": f"127.0.0.1:{dns_port}",
            "LEADFLOW_SMTP_PROBE_PORT": str(smtp_port),
            "LEADFLOW_SMTP_PROBE_HELO": "probe.leadflow.cz",
            "LEADFLOW_VALIDATOR_DNS_CANARIES": "firma.cz",
        }
    finally:
        mx.stop()
        stop_dns(dns)


def test_up_runs_the_walkthrough_and_keeps_data(
    data_dir: Path, mail_peers: dict[str, str], elsewhere: dict[str, str]
) -> None:
    port = free_port()
    up = Up(data_dir, port, XDG_STATE_HOME=elsewhere["XDG_STATE_HOME"], **mail_peers)
    try:
        dev_key = up.wait_ready()
        stack = json.loads((data_dir / "stack.json").read_text())
        assert stack["gateway_url"] == up.url

        # `workspace create` finds the running stack through the same data folder.
        created = subprocess.run(
            [sys.executable, "-m", "services.cli", "workspace", "create", "Second"],
            env=up.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        second_key = created.stdout.strip().splitlines()[-1]
        assert second_key.startswith("lf_") and second_key != dev_key

        headers = {"Authorization": f"Bearer {dev_key}"}
        campaign = httpx.post(f"{up.url}/api/v1/campaigns", json={"name": "Walkthrough"}, headers=headers)
        assert campaign.status_code == 201, campaign.text
        campaign_id = campaign.json()["id"]
        started = httpx.post(
            f"{up.url}/api/v1/campaigns/{campaign_id}/imports",
            headers=headers,
            files={
                "file": ("leads.csv", b"email,company\nana@firma.cz,Firma\nbob@jina.cz,Jina\n", "text/csv")
            },
            data={"mapping": json.dumps({"email": "email", "company_name": "company"})},
        )
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while True:
            leads = httpx.get(f"{up.url}/api/v1/campaigns/{campaign_id}/leads", headers=headers).json()
            validated = leads["total"] == 2 and all(i["validation"] != "pending" for i in leads["items"])
            if validated or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # Imported as Pending; the validator `leadflow up` runs verified both by itself.
        assert {
            (i["email"], i["status"], i["validation"], i["validation_reason"]) for i in leads["items"]
        } == {
            ("ana@firma.cz", "pending", "valid", "accepted"),
            ("bob@jina.cz", "invalid", "invalid", "no_such_domain"),
        }
        other = httpx.get(
            f"{up.url}/api/v1/campaigns/{campaign_id}", headers={"Authorization": f"Bearer {second_key}"}
        )
        assert other.status_code == 404
        assert httpx.get(f"{up.url}/docs").status_code == 200
    finally:
        code = up.interrupt()
    assert code == 0, "".join(up.output[-40:])
    assert not (data_dir / "stack.json").exists()

    # Second run on the same folder: the data is still there (and the old dev key was rotated).
    again = Up(data_dir, port, XDG_STATE_HOME=elsewhere["XDG_STATE_HOME"])
    try:
        new_key = again.wait_ready()
        assert new_key != dev_key
        stale = httpx.get(f"{again.url}/api/v1/campaigns", headers={"Authorization": f"Bearer {dev_key}"})
        assert stale.status_code == 401
        campaigns = httpx.get(f"{again.url}/api/v1/campaigns", headers={"Authorization": f"Bearer {new_key}"})
        assert [c["name"] for c in campaigns.json()] == ["Walkthrough"]
        assert campaigns.json()[0]["leads"] == 2
    finally:
        assert again.interrupt() == 0


def _service_environments(up: Up) -> dict[str, dict[str, str]]:
    """The environment of each service process `leadflow up` started, by service name."""
    found: dict[str, dict[str, str]] = {}
    for child in psutil.Process(up.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = child.cmdline()
            if "-m" in command and command[command.index("-m") + 1].startswith("services."):
                found[command[command.index("-m") + 1].removeprefix("services.")] = child.environ()
    return found


def test_up_keeps_the_bus_credentials_private_and_gives_each_service_only_its_own(data_dir: Path) -> None:
    credentials_path = data_dir / "nats" / "credentials.json"
    up = Up(data_dir, free_port())
    try:
        up.wait_ready()
        assert stat.S_IMODE(credentials_path.stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "nats" / "auth.conf").stat().st_mode) == 0o600
        passwords = json.loads(credentials_path.read_text())
        environments = _service_environments(up)
        assert set(environments) == {"importer", "validator", "sequencer", "mailer", "inbox", "gateway"}
        for service, env in environments.items():
            assert env["LEADFLOW_NATS_USER"] == service
            assert env["LEADFLOW_NATS_PASSWORD"] == passwords[service]
            others = [user for user, password in passwords.items() if user != service]
            assert not [user for user in others if any(passwords[user] in value for value in env.values())]

        nats_url = json.loads((data_dir / "stack.json").read_text())["nats_url"]
        assert "@" not in nats_url, "the published NATS URL carries no credentials"

        async def connect_without_credentials() -> None:
            await nats.connect(nats_url, allow_reconnect=False, connect_timeout=3)

        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            asyncio.run(connect_without_credentials())

        # `leadflow bus status` reads the bus as the read-only cli user, from the data folder's credentials.
        status = subprocess.run(
            [sys.executable, "-m", "services.cli", "bus", "status"],
            env=up.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert "Stream LEADFLOW:" in status.stdout and "gateway-lead-view" in status.stdout
    finally:
        assert up.interrupt() == 0, "".join(up.output[-40:])

    # The next start reuses them: nothing regenerated.
    again = Up(data_dir, free_port())
    try:
        again.wait_ready()
        assert json.loads(credentials_path.read_text()) == passwords
        assert _service_environments(again)["gateway"]["LEADFLOW_NATS_PASSWORD"] == passwords["gateway"]
    finally:
        assert again.interrupt() == 0


def test_up_keeps_one_private_secret_key_and_gives_it_to_every_service(data_dir: Path) -> None:
    secret_path = data_dir / "secret-key"
    up = Up(data_dir, free_port())
    try:
        up.wait_ready()
        assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
        secret = secret_path.read_text().strip()
        assert len(secret) >= 32
        environments = _service_environments(up)
        assert {env["LEADFLOW_SECRET_KEY"] for env in environments.values()} == {secret}
    finally:
        assert up.interrupt() == 0, "".join(up.output[-40:])

    # The next start reuses it; one set in the environment wins, and the kept file is left as it was.
    given = "g" * 43
    again = Up(data_dir, free_port(), LEADFLOW_SECRET_KEY=given)
    try:
        again.wait_ready()
        assert {env["LEADFLOW_SECRET_KEY"] for env in _service_environments(again).values()} == {given}
    finally:
        assert again.interrupt() == 0, "".join(again.output[-40:])
    assert secret_path.read_text().strip() == secret
    third = Up(data_dir, free_port())
    try:
        third.wait_ready()
        assert {env["LEADFLOW_SECRET_KEY"] for env in _service_environments(third).values()} == {secret}
    finally:
        assert third.interrupt() == 0, "".join(third.output[-40:])


def dev_mailboxes(url: str, key: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{url}/api/v1/mailboxes", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    return [m for m in listed.json()["items"] if m["name"] == "Local capture"]


def test_up_captures_mail_locally_and_gives_the_dev_workspace_a_mailbox_for_it(data_dir: Path) -> None:
    first_port = free_port()
    up = Up(data_dir, free_port(), LEADFLOW_CAPTURE_SMTP=f"127.0.0.1:{first_port}")
    try:
        key = up.wait_ready()
        assert f"Mail capture 127.0.0.1:{first_port}" in "".join(up.output)
        (mailbox,) = dev_mailboxes(up.url, key)
        assert mailbox["smtp"] == {
            "host": "127.0.0.1",
            "port": first_port,
            "username": "dev",
            "security": "none",
        }
        headers = {"Authorization": f"Bearer {key}"}
        tested = httpx.post(f"{up.url}/api/v1/mailboxes/{mailbox['id']}/test", headers=headers, timeout=30)
        assert tested.json()["ok"] is True, tested.text

        async def send() -> None:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=first_port, start_tls=False)
            await smtp.connect()
            await smtp.login("dev", "dev")
            await smtp.sendmail(
                "dev@leadflow.example", ["ana@firma.cz"], b"Subject: Captured\r\n\r\nHello\r\n"
            )
            await smtp.quit()

        asyncio.run(send())
        outbox = httpx.get(f"{up.url}/api/v1/dev/outbox", headers=headers).json()
        assert outbox["enabled"] is True
        assert [(m["subject"], m["text"]) for m in outbox["items"]] == [("Captured", "Hello\n")]
        assert len(list((data_dir / "outbox" / "new").iterdir())) == 1
    finally:
        assert up.interrupt() == 0, "".join(up.output[-40:])

    # Started again with the capture elsewhere: the same one mailbox, pointed at the new address.
    second_port = free_port()
    again = Up(data_dir, free_port(), LEADFLOW_CAPTURE_SMTP=f"127.0.0.1:{second_port}")
    try:
        key = again.wait_ready()
        (moved,) = dev_mailboxes(again.url, key)
        assert moved["id"] == mailbox["id"] and moved["smtp"]["port"] == second_port
    finally:
        assert again.interrupt() == 0, "".join(again.output[-40:])


def test_import_and_activate_send_into_the_local_outbox(data_dir: Path, mail_peers: dict[str, str]) -> None:
    """The walk-through of the issue: `leadflow up` → import → activate with the dev mailbox → the message is
    in the outbox, and nothing left the machine."""
    up = Up(data_dir, free_port(), LEADFLOW_CAPTURE_SMTP=f"127.0.0.1:{free_port()}", **mail_peers)
    try:
        key = up.wait_ready()
        headers = {"Authorization": f"Bearer {key}"}
        (mailbox,) = dev_mailboxes(up.url, key)
        campaign = httpx.post(f"{up.url}/api/v1/campaigns", json={"name": "Captured"}, headers=headers)
        campaign_id = campaign.json()["id"]
        steps = [
            {
                "subject": "Hello {{first_name|there}}",
                "body": "A note for {{company_name}}.",
                "delay_minutes": 0,
            }
        ]
        saved = httpx.put(
            f"{up.url}/api/v1/campaigns/{campaign_id}/sequence", json={"steps": steps}, headers=headers
        )
        assert saved.status_code == 200, saved.text
        patched = httpx.patch(
            f"{up.url}/api/v1/campaigns/{campaign_id}", json={"mailbox_ids": [mailbox["id"]]}, headers=headers
        )
        assert patched.status_code == 200, patched.text
        started = httpx.post(
            f"{up.url}/api/v1/campaigns/{campaign_id}/imports",
            headers=headers,
            files={
                "file": (
                    "leads.csv",
                    b"email,first_name,company\nana@firma.cz,Ana,Firma\nbob@jina.cz,Bob,Jina\n",
                )
            },
            data={
                "mapping": json.dumps(
                    {"email": "email", "first_name": "first_name", "company_name": "company"}
                )
            },
        )
        assert started.status_code == 202, started.text
        activated = httpx.post(
            f"{up.url}/api/v1/campaigns/{campaign_id}/activate", headers=headers, timeout=30
        )
        assert activated.status_code == 200, activated.text

        deadline = time.monotonic() + 90
        while not (items := httpx.get(f"{up.url}/api/v1/dev/outbox", headers=headers).json()["items"]):
            assert time.monotonic() < deadline, "nothing reached the local outbox"
            time.sleep(0.5)
        (message,) = items
        assert (message["to"], message["subject"], message["text"].splitlines()[0]) == (
            "ana@firma.cz",
            "Hello Ana",
            "A note for Firma.",
        )
        assert message["from"] == "Local capture <dev@leadflow.example>"
        assert message["headers"]["List-Unsubscribe"].startswith(f"<{up.url}/u/")
        assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["message_id"].endswith("@leadflow.example>")
        time.sleep(2)  # bob@jina.cz is invalid: never sent
        assert len(httpx.get(f"{up.url}/api/v1/dev/outbox", headers=headers).json()["items"]) == 1
    finally:
        assert up.interrupt() == 0, "".join(up.output[-40:])


def test_up_refuses_an_unusable_secret_key_before_starting_anything(data_dir: Path) -> None:
    up = Up(data_dir, free_port(), LEADFLOW_SECRET_KEY="too-short")
    assert up.process.wait(60) == 1
    output = "".join(up.output)
    assert "LEADFLOW_SECRET_KEY's entry number 1 has 9 characters" in output, output
    assert not (data_dir / "postgres").exists() and not (data_dir / "nats").exists()


def import_and_verify(url: str, key: str) -> None:
    """Traffic through every service: a campaign, a two-lead import, both leads verified."""
    headers = {"Authorization": f"Bearer {key}"}
    campaign = httpx.post(f"{url}/api/v1/campaigns", json={"name": "Traffic"}, headers=headers)
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["id"]
    started = httpx.post(
        f"{url}/api/v1/campaigns/{campaign_id}/imports",
        headers=headers,
        files={"file": ("leads.csv", b"email\nana@firma.cz\nbob@jina.cz\n", "text/csv")},
        data={"mapping": json.dumps({"email": "email"})},
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leads = httpx.get(f"{url}/api/v1/campaigns/{campaign_id}/leads", headers=headers).json()
        if leads["total"] == 2 and all(i["validation"] != "pending" for i in leads["items"]):
            return
        time.sleep(0.2)
    pytest.fail(f"the import was not verified: {leads}")


def test_a_fresh_up_shows_only_its_banner_and_logs_json_lines_without_errors(
    data_dir: Path, mail_peers: dict[str, str], elsewhere: dict[str, str]
) -> None:
    folder = data_dir / "fresh"
    up = Up(folder, free_port(), XDG_STATE_HOME=elsewhere["XDG_STATE_HOME"], **mail_peers)
    try:
        up.wait_ready()
        assert up.before_banner() == [f"Starting Leadflow on {folder} (logs in {folder / 'logs'})…\n"]
        created = leadflow_from(elsewhere, "workspace", "create", "Traffic")
        assert created.returncode == 0, created.stderr
        import_and_verify(up.url, created.stdout.strip().splitlines()[-1])
    finally:
        code = up.interrupt()
    assert code == 0, "".join(up.output)
    assert up.after_banner() == ["Stopping Leadflow…\n"]

    logs = sorted((folder / "logs").iterdir())
    assert [path.name for path in logs] == [
        "gateway.log",
        "importer.log",
        "inbox.log",
        "mailer.log",
        "sequencer.log",
        "up.log",
        "validator.log",
    ]
    for path in logs:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines, f"{path.name} is empty"
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{path.name}:{number} is not a JSON line: {line!r}")
            assert isinstance(record, dict) and {"event", "level", "timestamp"} <= record.keys(), line
            assert record["level"] not in ("error", "critical"), f"{path.name}:{number}: {line}"


def test_commands_run_from_another_directory_use_the_running_stack(
    data_dir: Path, elsewhere: dict[str, str]
) -> None:
    up = Up(data_dir, free_port(), XDG_STATE_HOME=elsewhere["XDG_STATE_HOME"])
    try:
        up.wait_ready()
        created = leadflow_from(elsewhere, "workspace", "create", "Elsewhere")
        assert created.returncode == 0, created.stderr
        assert f"Using the Leadflow stack running on {data_dir} ({up.url})" in created.stderr
        key = created.stdout.strip().splitlines()[-1]
        listed = httpx.get(f"{up.url}/api/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200, "the running gateway accepts the printed key"

        migrated = leadflow_from(elsewhere, "migrate")
        assert (migrated.returncode, migrated.stdout.strip()) == (0, "migrations: at head"), migrated.stderr
        sampled = leadflow_from(elsewhere, "directory", "sample", "--rows", "20", "--replace")
        assert sampled.returncode == 0, sampled.stderr
        companies = httpx.get(
            f"{up.url}/api/v1/directory/companies", headers={"Authorization": f"Bearer {key}"}
        )
        assert companies.json()["total"] == 20

        named = leadflow_from(elsewhere, "workspace", "create", "Named", LEADFLOW_DATA_DIR=str(data_dir))
        assert named.returncode == 0, named.stderr
        named_key = named.stdout.strip().splitlines()[-1]
        assert httpx.get(
            f"{up.url}/api/v1/campaigns", headers={"Authorization": f"Bearer {named_key}"}
        ).is_success

        second = subprocess.run(
            [sys.executable, "-m", "services.cli", "up"],
            env={**up.env, "LEADFLOW_HTTP_PORT": str(free_port())},
            cwd=elsewhere["cwd"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"Leadflow is already running on {data_dir}" in second.stderr
        assert httpx.get(f"{up.url}/readyz").status_code == 200

        assert list(Path(elsewhere["cwd"]).iterdir()) == [], "no .leadflow created where the commands ran"
    finally:
        assert up.interrupt() == 0, "".join(up.output)
    gone = leadflow_from(elsewhere, "migrate")
    assert gone.returncode == 3 and "No running Leadflow stack found" in gone.stderr


def test_up_on_a_data_folder_of_postgresql_16_says_what_to_do(
    data_dir: Path, elsewhere: dict[str, str]
) -> None:
    """Leadflow ran PostgreSQL 16 before; PostgreSQL 18 cannot open its cluster, so `up` stops and says so."""
    pgdata = data_dir / "postgres" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")

    for command in (["up"], ["migrate", "--embedded"]):
        done = leadflow_from(
            elsewhere,
            *command,
            LEADFLOW_DATA_DIR=str(data_dir),
            LEADFLOW_HTTP_PORT=str(free_port()),
        )
        assert done.returncode == 1, done.stderr
        assert f"error: The PostgreSQL data in {pgdata} was made by PostgreSQL 16" in done.stderr
        assert "LEADFLOW_DATA_DIR" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert (pgdata / "PG_VERSION").read_text() == "16\n"
    assert sorted(path.name for path in pgdata.iterdir()) == ["PG_VERSION"]
