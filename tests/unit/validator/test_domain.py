"""The validator's pure rules: SMTP replies, flags, MX records, schedules and the health guard."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Verdict
from contracts.commands import VERDICT_REASONS
from contracts.events import MAX_BATCH
from services.validator.domain import (
    Claimed,
    HoldCause,
    Requeue,
    next_step,
    parse_retry_schedule,
    validated_event_id,
    verdict_events,
)
from services.validator.health import ProbeHealth, parse_nameservers
from services.validator.verdicts import (
    DNS_DEPENDENT,
    HELD_REASONS,
    MxHost,
    RcptKind,
    Reason,
    Result,
    classify_rcpt,
    enhanced_code,
    is_disposable,
    is_null_mx,
    is_role,
    order_mx,
    verdict_of,
)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (250, "2.1.5 OK", RcptKind.ACCEPTED),
        (251, "User not local; will forward", RcptKind.ACCEPTED),
        (550, "5.1.1 User unknown", RcptKind.NO_MAILBOX),
        (
            550,
            "5.1.1 <x@firma.cz>: Recipient address rejected: User unknown in virtual mailbox table",
            RcptKind.NO_MAILBOX,
        ),
        (551, "5.1.6 Recipient has moved", RcptKind.NO_MAILBOX),
        (553, "5.1.3 Bad recipient address syntax", RcptKind.NO_MAILBOX),
        (550, "Requested action not taken: mailbox unavailable", RcptKind.NO_MAILBOX),
        (550, "No such user here", RcptKind.NO_MAILBOX),
        (552, "5.2.2 Mailbox full", RcptKind.MAILBOX_FULL),
        (552, "Requested mail action aborted: exceeded storage allocation", RcptKind.MAILBOX_FULL),
        (550, "5.2.2 The email account that you tried to reach is over quota", RcptKind.MAILBOX_FULL),
        # 5.7.x is the server refusing us, whatever the words say about the user.
        (550, "5.7.1 Service unavailable; client host blocked using Spamhaus", RcptKind.POLICY),
        (550, "5.7.1 User unknown (policy)", RcptKind.POLICY),
        (554, "5.7.1 Relay access denied", RcptKind.POLICY),
        (550, "Your IP is listed on a blacklist", RcptKind.POLICY),
        (451, "4.7.1 Greylisted, please try again later", RcptKind.TEMPORARY),
        (450, "4.2.0 Mailbox temporarily unavailable", RcptKind.TEMPORARY),
        (452, "4.2.2 Over quota (temporary)", RcptKind.TEMPORARY),
        (421, "4.3.2 Service shutting down", RcptKind.UNAVAILABLE),
        (554, "Transaction failed", RcptKind.REJECTED),
        (550, "Rejected", RcptKind.REJECTED),
        (300, "odd", RcptKind.REJECTED),
    ],
)
def test_rcpt_replies(code: int, message: str, kind: RcptKind) -> None:
    assert classify_rcpt(code, message) == kind


@given(st.integers(100, 699), st.text(max_size=80))
def test_any_reply_is_classified_and_only_a_250_or_251_is_accepted(code: int, message: str) -> None:
    kind = classify_rcpt(code, message)
    assert (kind == RcptKind.ACCEPTED) == (code in (250, 251))
    if 400 <= code < 500:
        assert kind in (RcptKind.TEMPORARY, RcptKind.UNAVAILABLE)  # never a permanent verdict


@given(st.sampled_from([550, 551, 552, 553, 554]), st.integers(0, 99), st.text(max_size=40))
def test_a_5_7_x_rejection_is_never_about_the_mailbox(code: int, detail: int, text: str) -> None:
    assert classify_rcpt(code, f"5.7.{detail} {text}") == RcptKind.POLICY


def test_enhanced_codes() -> None:
    assert enhanced_code("5.1.1 User unknown") == (5, 1, 1)
    assert enhanced_code("  4.7.1 greylisted") == (4, 7, 1)
    assert enhanced_code("User unknown 5.1.1") is None
    assert enhanced_code("") is None


@pytest.mark.parametrize(
    ("reason", "verdict"),
    [
        (Reason.ACCEPTED, Verdict.VALID),
        (Reason.MAILBOX_NOT_FOUND, Verdict.INVALID),
        (Reason.MAILBOX_FULL, Verdict.INVALID),
        (Reason.NULL_MX, Verdict.INVALID),
        (Reason.NO_SUCH_DOMAIN, Verdict.INVALID),
        (Reason.NO_MAIL_SERVER, Verdict.INVALID),
        (Reason.INVALID_SYNTAX, Verdict.INVALID),
        (Reason.CATCH_ALL, Verdict.UNKNOWN),
        (Reason.POLICY_BLOCK, Verdict.UNKNOWN),
        (Reason.GREYLISTED, Verdict.UNKNOWN),
        (Reason.MX_UNREACHABLE, Verdict.UNKNOWN),
        (Reason.DNS_TIMEOUT, Verdict.UNKNOWN),
    ],
)
def test_verdicts(reason: Reason, verdict: Verdict) -> None:
    assert verdict_of(reason) == verdict


def test_only_acceptance_is_valid() -> None:
    assert [r for r in Reason if verdict_of(r) == Verdict.VALID] == [Reason.ACCEPTED]


@pytest.mark.parametrize(
    ("local", "role"),
    [
        ("info", True),
        ("Sales", True),
        ("info+cz", True),
        ("obchod", True),
        ("jan.novak", False),
        ("information", False),
    ],
)
def test_role_accounts(local: str, role: bool) -> None:
    assert is_role(local) is role


def test_disposable_domains_and_their_subdomains() -> None:
    listed = frozenset({"mailinator.com"})
    assert is_disposable("mailinator.com", listed)
    assert is_disposable("eu.Mailinator.com", listed)
    assert not is_disposable("firma.cz", listed)
    assert not is_disposable("com", listed)
    assert is_disposable("mailinator.com")  # the maintained list itself


def test_mx_order_and_null_mx() -> None:
    records = [MxHost(20, "b.mx.cz"), MxHost(10, "z.mx.cz"), MxHost(20, "a.mx.cz")]
    assert [r.host for r in order_mx(records)] == ["z.mx.cz", "a.mx.cz", "b.mx.cz"]
    assert is_null_mx([MxHost(0, "")]) and is_null_mx([MxHost(0, ".")])
    assert not is_null_mx([MxHost(0, ""), MxHost(10, "mx.firma.cz")])
    assert not is_null_mx([MxHost(10, "mx.firma.cz")])


def test_schedules_and_nameservers() -> None:
    assert parse_retry_schedule("30, 120,600") == (30.0, 120.0, 600.0)
    assert parse_retry_schedule("") == ()
    for bad in ("soon", "-5"):
        with pytest.raises(ValueError):
            parse_retry_schedule(bad)
    assert parse_nameservers("127.0.0.1:5353, 10.0.0.2") == ["127.0.0.1:5353", "10.0.0.2"]
    with pytest.raises(ValueError):
        parse_nameservers("127.0.0.1:dns")


def test_health_guard_needs_many_unrelated_domains_failing_and_no_success() -> None:
    health = ProbeHealth(window_seconds=60, min_domains=3)
    for i in range(5):
        health.record("one-domain.cz", connected=False, now=float(i))
    assert not health.degraded(5)  # one broken domain is that domain's problem
    health.record("two.cz", connected=False, now=6)
    health.record("three.cz", connected=False, now=7)
    assert health.degraded(8)
    assert not health.degraded(200)  # the failures aged out of the window
    health.record("a.cz", connected=False, now=201)
    health.record("b.cz", connected=False, now=202)
    health.record("c.cz", connected=False, now=203)
    assert health.degraded(204)
    health.record("d.cz", connected=True, now=205)  # one success: it is them, not us
    assert not health.degraded(206)
    # Failures after a success count again: a success a minute ago does not excuse a blocked prober now.
    for domain in ("e.cz", "f.cz", "g.cz"):
        health.record(domain, connected=False, now=207)
    assert health.degraded(208)


def test_result_json_shape() -> None:
    result = Result("a@firma.cz", Verdict.INVALID, Reason.MAILBOX_NOT_FOUND, "mx.firma.cz", 550)
    assert result.as_json() == {
        "email": "a@firma.cz",
        "verdict": "invalid",
        "reason": "mailbox_not_found",
        "mx": "mx.firma.cz",
        "smtp_code": 550,
        "catch_all": False,
        "disposable": False,
        "role": False,
    }


def test_every_verdict_reason_is_a_contract_reason_code_and_held_ones_are_not() -> None:
    assert {r.value for r in Reason} - {r.value for r in HELD_REASONS} == set(VERDICT_REASONS)
    assert {Reason.DNS_UNHEALTHY, Reason.PROBER_BLOCKED} == HELD_REASONS
    assert Reason.NULL_MX not in DNS_DEPENDENT  # a published record: no broken resolver invents it
    assert Reason.NO_SUCH_DOMAIN in DNS_DEPENDENT and Reason.DNS_TIMEOUT in DNS_DEPENDENT


SCHEDULE = (60.0, 300.0)
WAITS = {HoldCause.PROBER: 300.0, HoldCause.DNS: 120.0}


@pytest.mark.parametrize(
    ("reason", "attempts", "step"),
    [
        (Reason.ACCEPTED, 0, None),
        (Reason.NO_SUCH_DOMAIN, 0, None),
        (Reason.GREYLISTED, 0, Requeue(1, 60.0)),
        (Reason.GREYLISTED, 1, Requeue(2, 300.0)),
        (Reason.GREYLISTED, 2, None),  # the schedule used up: the verdict, unknown
        (Reason.DNS_TIMEOUT, 0, Requeue(1, 60.0)),  # one domain's nameservers slow: try again later
        (Reason.DNS_ERROR, 2, None),
        (Reason.MX_UNREACHABLE, 1, Requeue(2, 300.0)),
        (Reason.PROBER_BLOCKED, 1, Requeue(1, 300.0, HoldCause.PROBER)),  # held: attempts kept
        (Reason.DNS_UNHEALTHY, 2, Requeue(2, 120.0, HoldCause.DNS)),  # even past the schedule
    ],
)
def test_what_a_pass_result_leads_to(reason: Reason, attempts: int, step: Requeue | None) -> None:
    result = Result("a@firma.cz", verdict_of(reason), reason)
    assert next_step(result, attempts, SCHEDULE, WAITS) == (step if step is not None else result)


def claimed_lead(campaign: uuid.UUID, run: int = 0, workspace: uuid.UUID | None = None) -> Claimed:
    return Claimed(
        lead_id=uuid.uuid4(),
        workspace_id=workspace or uuid.UUID(int=1),
        campaign_id=campaign,
        email=f"{uuid.uuid4().hex[:8]}@firma.cz",
        attempts=0,
        run=run,
        token=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_verdicts_travel_as_one_batch_per_campaign_with_their_run() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    leads = [claimed_lead(one), claimed_lead(two, run=1), claimed_lead(one, run=2)]
    results = [
        Result(c.email, Verdict.VALID, Reason.ACCEPTED, mx="mx.firma.cz", smtp_code=250) for c in leads
    ]
    events = verdict_events(list(zip(leads, results, strict=True)))
    assert [(e.campaign_id, [v.lead_id for v in e.leads]) for e in events] == [
        (one, [leads[0].lead_id, leads[2].lead_id]),
        (two, [leads[1].lead_id]),
    ]
    first = events[0].leads[1]
    assert (first.email, first.verdict, first.reason, first.mx, first.smtp_code, first.run) == (
        leads[2].email,
        Verdict.VALID,
        "accepted",
        "mx.firma.cz",
        250,
        2,
    )
    # Recorded again (the same leads at the same runs), the batch is the same event: JetStream drops it.
    again = verdict_events(list(zip(reversed(leads), reversed(results), strict=True)))
    assert {e.event_id for e in again} == {e.event_id for e in events}
    # Another run of the same lead is another event.
    alone = verdict_events([(leads[0], results[0])])[0].event_id
    assert alone == validated_event_id(one, [(leads[0].lead_id, 0)])
    assert verdict_events([(replace(leads[0], run=3), results[0])])[0].event_id != alone


def test_a_batch_larger_than_an_event_holds_is_split() -> None:
    campaign = uuid.uuid4()
    leads = [claimed_lead(campaign) for _ in range(MAX_BATCH + 1)]
    events = verdict_events([(c, Result(c.email, Verdict.UNKNOWN, Reason.CATCH_ALL)) for c in leads])
    assert [len(e.leads) for e in events] == [MAX_BATCH, 1]
    assert len({e.event_id for e in events}) == 2
