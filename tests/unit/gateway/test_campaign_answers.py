"""The pure parts of a campaign's answers in its analytics: the rates, the days, the steps and mailboxes, and
what each event states (projection/campaign_stats.py), with how two statements of one answer combine."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    InboundReclassified,
    LeadUnsubscribed,
    ReplyDetected,
)
from contracts.events import Event, LeadCompleted
from services.gateway.campaigns.analytics import outcomes_per_day, rate, rates_by_mailbox, rates_by_step
from services.gateway.projection.campaign_stats import (
    Response,
    combined,
    response_of,
    responses_of,
    sends_of,
)

T0 = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # half an hour before Dec 2 (UTC)
IDS: dict[str, Any] = {"workspace_id": uuid.uuid4(), "campaign_id": uuid.uuid4(), "lead_id": uuid.uuid4()}
MAILBOX, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
MESSAGE = uuid.UUID(int=77)


@pytest.mark.parametrize(
    ("part", "sent", "expected"),
    [
        (0, 0, None),  # nothing sent: no rate, not 0 %, and no division
        (3, 0, None),  # answers counted, sends not (yet): still no rate
        (0, 10, 0.0),
        (1, 3, 33.3),
        (2, 3, 66.7),  # to the nearest tenth
        (1, 400, 0.3),  # 0.25 % rounds half up
        (1, 2001, 0.0),
        (5, 5, 100.0),
        (7, 5, 140.0),  # not clamped: more answers than sends is shown as it is
    ],
)
def test_a_rate_is_a_percentage_to_one_decimal_and_none_without_sends(
    part: int, sent: int, expected: float | None
) -> None:
    assert rate(part, sent) == expected


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_a_rate_is_the_share_rounded_to_a_tenth(part: int, sent: int) -> None:
    found = rate(part, sent)
    assert found is not None and abs(found - part * 100 / sent) <= 0.05 + 1e-9


def test_outcomes_per_day_fill_every_kind_of_a_day_and_leave_out_days_and_kinds_without_any() -> None:
    d1, d2, d3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)
    found = outcomes_per_day(
        [
            (d2, "reply", 2),
            (d1, "hard_bounce", 1),
            (d2, "unsubscribe", 1),
            (d1, "soft_bounce", 3),
            (d2, "auto_reply", 4),
            (d3, "other", 5),  # a message reclassified as delayed counts nowhere
            (d3, "reply", 0),
        ]
    )
    assert [day.model_dump() for day in found] == [
        {
            "date": d1,
            "replies": 0,
            "auto_replies": 0,
            "hard_bounces": 1,
            "soft_bounces": 3,
            "unsubscribes": 0,
        },
        {
            "date": d2,
            "replies": 2,
            "auto_replies": 4,
            "hard_bounces": 0,
            "soft_bounces": 0,
            "unsubscribes": 1,
        },
    ]


@pytest.mark.parametrize(
    ("last", "sent", "replies", "bounces", "expected"),
    [
        (0, {}, {}, {}, []),  # no steps, nothing counted
        (2, {}, {}, {}, [(1, 0, 0, 0, None, None), (2, 0, 0, 0, None, None)]),  # steps nobody was sent yet
        (
            3,
            {1: 200, 2: 150},
            {1: 3, 2: 1},
            {1: 4},
            [(1, 200, 3, 4, 1.5, 2.0), (2, 150, 1, 0, 0.7, 0.0), (3, 0, 0, 0, None, None)],
        ),
        (1, {1: 10}, {2: 1}, {}, [(1, 10, 0, 0, 0.0, 0.0), (2, 0, 1, 0, None, None)]),  # a step beyond `last`
    ],
)
def test_rates_by_step(
    last: int,
    sent: dict[int, int],
    replies: dict[int, int],
    bounces: dict[int, int],
    expected: list[tuple[int, int, int, int, float | None, float | None]],
) -> None:
    found = rates_by_step(last, sent, replies, bounces)
    assert [(s.step, s.sent, s.replies, s.bounces, s.reply_rate, s.bounce_rate) for s in found] == expected


def test_rates_by_mailbox_are_by_address_with_those_without_one_last() -> None:
    unnamed = uuid.UUID(int=3)
    found = rates_by_mailbox(
        {MAILBOX: "zuzana@firma.cz", OTHER: "adam@firma.cz"},
        {MAILBOX: 40, OTHER: 8},
        {MAILBOX: 2, unnamed: 1},
        {OTHER: 1},
    )
    assert [
        (m.mailbox_id, m.mailbox, m.sent, m.replies, m.bounces, m.reply_rate, m.bounce_rate) for m in found
    ] == [
        (OTHER, "adam@firma.cz", 8, 0, 1, 0.0, 12.5),
        (MAILBOX, "zuzana@firma.cz", 40, 2, 0, 5.0, 0.0),
        (unnamed, None, 0, 1, 0, None, None),  # answered in a mailbox none of whose sends was counted
    ]


def inbound(cls: type[ReplyDetected | AutoReplyDetected], minutes: int = 0, **fields: Any) -> Event:
    return cls(
        **IDS,
        occurred_at=T0 + timedelta(minutes=minutes),
        message_id="<r@x>",
        from_address="lead@x.cz",
        **fields,
    )


def bounced(kind: str, source: str = "dsn", minutes: int = 0, **fields: Any) -> EmailBounced:
    return EmailBounced(
        **IDS,
        occurred_at=T0 + timedelta(minutes=minutes),
        source=source,
        kind=kind,
        smtp_code=550,
        email="lead@x.cz",
        **fields,
    )


def reclassified(to_kind: str, minutes: int, **fields: Any) -> InboundReclassified:
    return InboundReclassified(
        **IDS,
        occurred_at=T0 + timedelta(minutes=minutes),
        inbox_message_id=MESSAGE,
        from_kind="reply",
        to_kind=to_kind,
        by="eva",
        **fields,
    )


def unsubscribed(minutes: int) -> LeadUnsubscribed:
    return LeadUnsubscribed(
        **IDS, occurred_at=T0 + timedelta(minutes=minutes), email="lead@x.cz", source="link"
    )


def stated(event: Event) -> tuple[uuid.UUID, str, int | None, uuid.UUID | None, date] | None:
    found = response_of(event)
    return None if found is None else (found.response_id, found.kind, found.step, found.mailbox_id, found.day)


DEC_1, DEC_2 = date(2026, 12, 1), date(2026, 12, 2)


def test_what_each_event_states() -> None:
    reply = inbound(ReplyDetected, inbox_message_id=MESSAGE, step=2, mailbox_id=MAILBOX)
    assert stated(reply) == (MESSAGE, "reply", 2, MAILBOX, DEC_1)
    auto = inbound(AutoReplyDetected, 31, inbox_message_id=MESSAGE, step=1, mailbox_id=MAILBOX)
    assert stated(auto) == (MESSAGE, "auto_reply", 1, MAILBOX, DEC_2)  # 00:01 UTC: the next day
    smtp = bounced("hard", "smtp", step=1, mailbox_id=MAILBOX)  # the mailer's: no inbox message
    assert stated(smtp) == (smtp.event_id, "hard_bounce", 1, MAILBOX, DEC_1)
    assert stated(bounced("soft", inbox_message_id=MESSAGE)) == (MESSAGE, "soft_bounce", None, None, DEC_1)
    assert stated(reclassified("challenge", 0)) == (MESSAGE, "auto_reply", None, None, DEC_1)
    assert stated(reclassified("delayed", 0)) == (MESSAGE, "other", None, None, DEC_1)
    assert stated(unsubscribed(0)) == (IDS["lead_id"], "unsubscribe", None, None, DEC_1)
    assert stated(LeadCompleted(**IDS, occurred_at=T0, total_steps=3)) is None


def test_a_reclassified_message_takes_the_newer_kind_keeps_its_step_and_mailbox_and_its_first_day() -> None:
    original = response_of(inbound(ReplyDetected, inbox_message_id=MESSAGE, step=2, mailbox_id=MAILBOX))
    overturned = response_of(reclassified("soft_bounce", 60))  # the next day, no step or mailbox named
    assert original is not None and overturned is not None
    expected = (MESSAGE, "soft_bounce", 2, MAILBOX, DEC_1)
    for first, then in ((original, overturned), (overturned, original)):  # in either order
        both = combined(first, then)
        assert (both.response_id, both.kind, both.step, both.mailbox_id, both.day) == expected
        assert both.as_of == overturned.as_of


def test_on_a_tie_the_fact_applied_later_decides_the_kind() -> None:
    a = Response(**_row("reply"))
    b = Response(**_row("auto_reply"))
    assert combined(a, b).kind == "auto_reply" and combined(b, a).kind == "reply"


def _row(kind: str) -> dict[str, Any]:
    return {
        "campaign_id": IDS["campaign_id"],
        "response_id": MESSAGE,
        "workspace_id": IDS["workspace_id"],
        "lead_id": IDS["lead_id"],
        "kind": kind,
        "step": 1,
        "mailbox_id": MAILBOX,
        "day": DEC_1,
        "as_of": T0,
    }


def test_responses_of_a_run_are_one_per_answer_and_a_lead_unsubscribes_once() -> None:
    found = responses_of(
        [
            inbound(ReplyDetected, 0, inbox_message_id=MESSAGE, step=1, mailbox_id=MAILBOX),
            unsubscribed(45),
            reclassified("auto_reply", 50),
            inbound(AutoReplyDetected, 50, inbox_message_id=MESSAGE, step=1, mailbox_id=OTHER),
            unsubscribed(10),  # a second unsubscribe, delivered late: the first day stays
            bounced("hard", "smtp", step=1, mailbox_id=MAILBOX),
        ]
    )
    assert sorted((r.kind, r.step, r.mailbox_id, r.day) for r in found) == [
        ("auto_reply", 1, OTHER, DEC_1),
        ("hard_bounce", 1, MAILBOX, DEC_1),
        ("unsubscribe", None, None, DEC_1),
    ]


def test_sends_are_counted_per_step_and_mailbox_with_the_newest_address() -> None:
    def sent(step: int, mailbox_id: uuid.UUID, address: str, minutes: int) -> EmailSent:
        return EmailSent(
            **IDS,
            occurred_at=T0 + timedelta(minutes=minutes),
            step=step,
            total_steps=3,
            message_id=f"<{minutes}@x>",
            mailbox=address,
            mailbox_id=mailbox_id,
        )

    found = sends_of(
        [
            sent(1, MAILBOX, "new@x.cz", 5),
            sent(1, MAILBOX, "old@x.cz", 1),  # older, delivered later: its address is not the newest
            sent(2, MAILBOX, "new@x.cz", 6),
            sent(1, OTHER, "b@x.cz", 2),
            unsubscribed(3),
        ]
    )
    campaign = IDS["campaign_id"]
    assert {key: (s.mailbox, s.sent) for key, s in found.items()} == {
        (campaign, 1, MAILBOX): ("new@x.cz", 2),
        (campaign, 2, MAILBOX): ("new@x.cz", 1),
        (campaign, 1, OTHER): ("b@x.cz", 1),
    }
