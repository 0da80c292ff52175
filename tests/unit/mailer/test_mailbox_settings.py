"""A mailbox's settings: which are refused and why, and what a change makes of a stored mailbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.commands import CreateMailbox, ServerIn, ServerPatch, UpdateMailbox
from services.mailer.domain import Invalid, Mailbox, Security, Server, created, updated

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
WORKSPACE, MAILBOX_ID = uuid.uuid4(), uuid.uuid4()
SMTP = {"host": "smtp.example.com", "port": 587, "username": "ana", "password": "pw", "security": "starttls"}


def create(**changes: Any) -> CreateMailbox:
    fields: dict[str, Any] = {
        "workspace_id": WORKSPACE,
        "mailbox_id": MAILBOX_ID,
        "email": "ana@example.com",
        "name": "Ana",
        "smtp": ServerIn(**SMTP),
    }
    return CreateMailbox(**(fields | changes))


def stored() -> Mailbox:
    outcome = created(create(), "enc-smtp", None, NOW)
    assert isinstance(outcome, Mailbox)
    return outcome


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"email": "not an address"}, "is not an address"),
        ({"email": "ana@"}, "is not an address"),
        ({"name": "   "}, "The name is empty."),
        ({"smtp": ServerIn(**SMTP | {"port": 0})}, "SMTP port 0 is not between 1 and 65535"),
        ({"smtp": ServerIn(**SMTP | {"port": 65536})}, "SMTP port 65536 is not between 1 and 65535"),
        ({"smtp": ServerIn(**SMTP | {"host": " "})}, "The SMTP host is empty."),
        ({"smtp": ServerIn(**SMTP | {"host": "smtp example.com"})}, "is not a host name"),
        ({"imap": ServerIn(**SMTP | {"port": -1})}, "IMAP port -1 is not between 1 and 65535"),
        ({"daily_limit": 0}, "The daily limit 0 is not between 1 and 100000."),
        ({"daily_limit": 51_243_736_868_570}, "The daily limit 51243736868570 is not between 1 and 100000."),
        ({"min_gap_seconds": -1}, "The minimum gap -1 s is not between 0 and 86400 s."),
        ({"min_gap_seconds": 86_401}, "The minimum gap 86401 s is not between 0 and 86400 s."),
    ],
)
def test_settings_out_of_bounds_are_refused_with_the_reason(changes: dict[str, Any], problem: str) -> None:
    outcome = created(create(**changes), "enc", "enc", NOW)
    assert isinstance(outcome, Invalid)
    assert problem in outcome.message


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"smtp": ServerIn(**SMTP | {"port": 1, "security": "tls"})},
        {"smtp": ServerIn(**SMTP | {"port": 65535, "security": "none", "username": "", "password": ""})},
        {"imap": ServerIn(**SMTP | {"port": 993, "security": "tls"})},
        {"daily_limit": 1, "min_gap_seconds": 0},
        {"daily_limit": 100_000, "min_gap_seconds": 86_400},
    ],
)
def test_settings_within_bounds_are_stored_with_the_encrypted_passwords(changes: dict[str, Any]) -> None:
    outcome = created(create(**changes), "enc-smtp", "enc-imap", NOW)
    assert isinstance(outcome, Mailbox)
    assert outcome.smtp.password_encrypted == "enc-smtp"
    assert outcome.imap is None or outcome.imap.password_encrypted == "enc-imap"
    assert (outcome.created_at, outcome.updated_at) == (NOW, NOW)


def test_every_problem_is_named_at_once() -> None:
    outcome = created(create(email="x", daily_limit=0, min_gap_seconds=-5), "enc", None, NOW)
    assert isinstance(outcome, Invalid)
    assert len(outcome.problems) == 3


def update(**changes: Any) -> UpdateMailbox:
    return UpdateMailbox(workspace_id=WORKSPACE, mailbox_id=MAILBOX_ID, **changes)


@pytest.mark.parametrize(
    ("changes", "smtp_password", "expected"),
    [
        ({"name": "Ana B."}, None, {"name": "Ana B."}),
        ({"daily_limit": 50}, None, {"daily_limit": 50}),
        (
            {"smtp": ServerPatch(port=465, security="tls")},
            None,
            {"smtp": Server("smtp.example.com", 465, "ana", "enc-smtp", Security.TLS)},
        ),
        (
            {"smtp": ServerPatch(password="new")},
            "enc-new",
            {"smtp": Server("smtp.example.com", 587, "ana", "enc-new", Security.STARTTLS)},
        ),
        (
            {"imap": ServerPatch(host="imap.example.com", port=993, security="tls", username="ana")},
            None,
            {"imap": Server("imap.example.com", 993, "ana", "", Security.TLS)},
        ),
    ],
)
def test_a_change_keeps_what_it_does_not_name(
    changes: dict[str, Any], smtp_password: str | None, expected: dict[str, Any]
) -> None:
    before = stored()
    outcome = updated(before, update(**changes), smtp_password, None, LATER)
    assert isinstance(outcome, Mailbox)
    after = {name: getattr(outcome, name) for name in expected}
    assert after == expected
    kept = {"email", "name", "smtp", "imap", "daily_limit", "min_gap_seconds"} - set(expected)
    assert all(getattr(outcome, f) == getattr(before, f) for f in kept)
    assert outcome.updated_at == LATER and outcome.created_at == NOW


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"imap": ServerPatch(host="imap.example.com")}, "no IMAP settings yet: give port, security too"),
        ({"smtp": ServerPatch(port=70000)}, "SMTP port 70000"),
        ({"email": "nope"}, "is not an address"),
        ({"daily_limit": 0}, "daily limit 0"),
    ],
)
def test_a_change_to_refused_settings_is_refused(changes: dict[str, Any], problem: str) -> None:
    outcome = updated(stored(), update(**changes), None, None, LATER)
    assert isinstance(outcome, Invalid)
    assert problem in outcome.message


def test_removing_imap_drops_its_settings() -> None:
    with_imap = created(create(imap=ServerIn(**SMTP | {"port": 993, "security": "tls"})), "a", "b", NOW)
    assert isinstance(with_imap, Mailbox) and with_imap.imap is not None
    outcome = updated(with_imap, update(remove_imap=True), None, None, LATER)
    assert isinstance(outcome, Mailbox) and outcome.imap is None


@given(port=st.integers(-(2**20), 2**20), limit=st.integers(-100, 100), gap=st.integers(-100, 100))
def test_bounds_hold_for_any_numbers(port: int, limit: int, gap: int) -> None:
    outcome = created(
        create(smtp=ServerIn(**SMTP | {"port": port}), daily_limit=limit, min_gap_seconds=gap), "e", None, NOW
    )
    valid = 1 <= port <= 65535 and limit >= 1 and gap >= 0
    assert isinstance(outcome, Mailbox) == valid
