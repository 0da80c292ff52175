"""The local capture's address (LEADFLOW_CAPTURE_SMTP) and when `leadflow up` re-points the dev mailbox."""

from __future__ import annotations

from typing import Any

import pytest

from services.runtime.smtp_capture import (
    CaptureAddress,
    capture_mailbox,
    mailbox_change,
    parse_capture_address,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:1025", CaptureAddress("127.0.0.1", 1025)),
        (" localhost:2525 ", CaptureAddress("localhost", 2525)),
        ("::1:1025", CaptureAddress("::1", 1025)),
        ("0.0.0.0:65535", CaptureAddress("0.0.0.0", 65535)),
    ],
)
def test_an_address_is_host_and_port(value: str, expected: CaptureAddress) -> None:
    assert parse_capture_address(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1025", "must be host:port"),
        (":1025", "must be host:port"),
        ("localhost:", "must be host:port"),
        ("localhost:smtp", "must be host:port"),
        ("localhost:0", "must be 1 to 65535, not 0"),
        ("localhost:70000", "must be 1 to 65535, not 70000"),
    ],
)
def test_a_bad_address_is_refused_in_words(value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_capture_address(value)


HERE = CaptureAddress("127.0.0.1", 1025)


def listed(**smtp: Any) -> dict[str, Any]:
    """The dev mailbox as the API lists it (no password), with `smtp` changed."""
    mailbox = capture_mailbox(HERE)
    shown = {k: v for k, v in mailbox["smtp"].items() if k != "password"}
    return {**mailbox, "id": "x", "smtp": {**shown, **smtp}}


@pytest.mark.parametrize(
    ("existing", "changed"),
    [
        (listed(), False),
        (listed(port=2525), True),
        (listed(host="localhost"), True),
        (listed(security="starttls"), True),
        (listed(username=""), True),
    ],
)
def test_the_dev_mailbox_is_patched_only_when_it_points_elsewhere(
    existing: dict[str, Any], changed: bool
) -> None:
    change = mailbox_change(existing, HERE)
    assert (change is not None) == changed
    if change is not None:
        assert change == {"smtp": capture_mailbox(HERE)["smtp"]}


def test_the_dev_mailbox_sends_without_tls_and_without_pauses() -> None:
    mailbox = capture_mailbox(CaptureAddress("127.0.0.1", 2525))
    assert mailbox["smtp"]["security"] == "none" and mailbox["smtp"]["port"] == 2525
    assert mailbox["min_gap_seconds"] == 0 and mailbox["name"] == "Local capture"
