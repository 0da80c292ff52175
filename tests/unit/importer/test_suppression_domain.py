"""What goes on the suppression list: from events, by hand, from an upload; the keys and pages of the list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import CampaignCreated, EmailBounced, Event, LeadUnsubscribed
from services.importer.suppressions.domain import (
    ListedSuppression,
    NewSuppression,
    NotAnAddress,
    added_by_hand,
    from_event,
    key_for,
    key_of_cursor,
    one_page,
    upload_reason,
)
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor

_LEAD = {"workspace_id": uuid.uuid4(), "campaign_id": uuid.uuid4(), "lead_id": uuid.uuid4()}


def _bounce(kind: str, code: int | None, email: str = "Jan@Firma.CZ") -> EmailBounced:
    return EmailBounced(**_LEAD, source="dsn", kind=kind, smtp_code=code, email=email)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            LeadUnsubscribed(**_LEAD, email="Jan@Firma.CZ", source="link"),
            NewSuppression("Jan@firma.cz", "jan@firma.cz", "unsubscribed (link)", "unsubscribed"),
        ),
        (
            LeadUnsubscribed(**_LEAD, email="eva@firma.cz", source="one_click"),
            NewSuppression("eva@firma.cz", "eva@firma.cz", "unsubscribed (one_click)", "unsubscribed"),
        ),
        (_bounce("hard", 550), NewSuppression("Jan@firma.cz", "jan@firma.cz", "hard bounce 550", "bounced")),
        (_bounce("hard", None), NewSuppression("Jan@firma.cz", "jan@firma.cz", "hard bounce", "bounced")),
        (_bounce("soft", 452), None),  # a soft bounce suppresses nothing
        (_bounce("hard", 550, email="not an address"), None),
        (LeadUnsubscribed(**_LEAD, email="", source="manual"), None),
    ],
)
def test_what_an_event_puts_on_the_list(event: Event, expected: NewSuppression | None) -> None:
    assert from_event(event) == expected


def test_an_event_of_another_kind_puts_nothing_on_the_list() -> None:
    created = CampaignCreated(
        workspace_id=_LEAD["workspace_id"], campaign_id=_LEAD["campaign_id"], name="Jaro"
    )
    assert from_event(created) is None


@pytest.mark.parametrize(
    ("email", "reason", "expected"),
    [
        ("Jan@Firma.CZ", None, NewSuppression("Jan@firma.cz", "jan@firma.cz", "added by hand", "manual")),
        ("jan@firma.cz", "", NewSuppression("jan@firma.cz", "jan@firma.cz", "added by hand", "manual")),
        ("jan@firma.cz", "asked", NewSuppression("jan@firma.cz", "jan@firma.cz", "asked", "manual")),
    ],
)
def test_an_address_added_by_hand(email: str, reason: str | None, expected: NewSuppression) -> None:
    assert added_by_hand(email, reason) == expected


@pytest.mark.parametrize("email", ["", "jan", "jan@", "@firma.cz", "jan@@firma.cz"])
def test_text_that_is_not_an_address_is_refused_by_name(email: str) -> None:
    refused = added_by_hand(email, None)
    assert isinstance(refused, NotAnAddress)
    assert refused.message.startswith(f"{email!r} is not an email address: ")


@pytest.mark.parametrize(
    ("reason", "filename", "expected"),
    [
        ("bought list", "x.csv", "bought list"),
        (None, "odhlášení.csv", "uploaded list odhlášení.csv"),
        ("", "x.csv", "uploaded list x.csv"),
        (None, None, "uploaded list"),
        (None, "", "uploaded list"),
    ],
)
def test_the_reason_of_an_uploaded_list(reason: str | None, filename: str | None, expected: str) -> None:
    assert upload_reason(reason, filename) == expected


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("Jan@Firma.CZ", "jan@firma.cz"),
        ("  jan@firma.cz ", "jan@firma.cz"),
        ("  Not An Address ", "not an address"),  # removed as it was stored
    ],
)
def test_the_key_an_address_is_removed_by(email: str, key: str) -> None:
    assert key_for(email) == key


@pytest.mark.parametrize("position", [0, "", None, ["a@b.cz"], {"k": "a@b.cz"}])
def test_a_cursor_without_a_key_is_refused(position: object) -> None:
    with pytest.raises(InvalidCursor):
        key_of_cursor(encode_cursor(position))


@given(st.text(min_size=1).filter(lambda s: "\x00" not in s and s.isprintable()))
def test_a_cursor_gives_back_the_key_it_was_made_of(key: str) -> None:
    assert key_of_cursor(encode_cursor(key)) == key


def _listed(n: int) -> list[ListedSuppression]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [ListedSuppression(f"a{i}@b.cz", f"a{i}@b.cz", "r", "manual", at) for i in range(n)]


@given(st.integers(0, 12), st.integers(1, 10))
def test_a_page_is_at_most_limit_long_and_has_a_cursor_only_when_more_follow(
    fetched: int, limit: int
) -> None:
    entries = _listed(min(fetched, limit + 1))  # the repository fetches at most limit + 1
    page, cursor = one_page(entries, limit)
    assert page == entries[:limit]
    if len(entries) > limit:
        assert cursor is not None and decode_cursor(cursor) == page[-1].key
    else:
        assert cursor is None
