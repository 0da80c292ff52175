"""The DNS health guard's rules: canary verdicts, the spread of failures, and when a failure is believed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.validator.health import (
    DnsFault,
    DnsHealth,
    LookupOutcome,
    Trust,
    canary_fault,
    fault_of,
    parse_domains,
)

A = LookupOutcome.ANSWERED
NX = LookupOutcome.NXDOMAIN
NO_MX = LookupOutcome.NO_MX
TIMEOUT = LookupOutcome.TIMEOUT
ERROR = LookupOutcome.ERROR
CANARIES = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "seznam.cz")


def canaries(*outcomes: LookupOutcome) -> dict[str, LookupOutcome]:
    return dict(zip(CANARIES, outcomes, strict=False))


@pytest.mark.parametrize(
    ("outcomes", "fault"),
    [
        (canaries(A, A, A, A, A), None),
        (canaries(NX, A, A, A, A), None),  # one canary's own outage, or a filtered domain
        (canaries(NX, NX, A, A, A), None),
        (canaries(NX, NX, NX, A, A), DnsFault.NXDOMAIN),
        (canaries(NX, NX, NX, NX, NX), DnsFault.NXDOMAIN),
        (canaries(TIMEOUT, TIMEOUT, TIMEOUT, TIMEOUT, TIMEOUT), DnsFault.UNREACHABLE),
        (canaries(ERROR, ERROR, ERROR, A, A), DnsFault.UNREACHABLE),  # SERVFAIL
        (canaries(TIMEOUT, ERROR, NX, A, A), DnsFault.UNREACHABLE),  # mostly unanswered
        (canaries(NO_MX, NO_MX, NO_MX, NX, A), DnsFault.NO_MX),
        (canaries(NX, NX, TIMEOUT, TIMEOUT, A), DnsFault.NXDOMAIN),  # a tie: NXDOMAIN says more
        (canaries(NX), DnsFault.NXDOMAIN),  # a single canary decides alone
        (canaries(A), None),
        (canaries(NX, A), None),  # one of two is not most of them
        (canaries(TIMEOUT, TIMEOUT), DnsFault.UNREACHABLE),
        ({}, None),
    ],
)
def test_canary_verdicts(outcomes: dict[str, LookupOutcome], fault: DnsFault | None) -> None:
    assert canary_fault(outcomes) == fault


def test_fault_messages_are_the_words_users_see() -> None:
    assert DnsFault.UNREACHABLE.message == "DNS resolver unreachable"
    assert DnsFault.NXDOMAIN.message == "resolver answers NXDOMAIN for known domains"
    assert DnsFault.NO_MX.message == "resolver answers without MX records for known mail domains"
    with pytest.raises(ValueError, match="no failures"):
        fault_of([A, A])


failures = st.sampled_from([NX, NO_MX, TIMEOUT, ERROR])
outcome_lists = st.lists(st.sampled_from(list(LookupOutcome)), min_size=1, max_size=9)


@given(outcome_lists, failures)
def test_one_more_failing_canary_never_clears_a_fault(
    outcomes: list[LookupOutcome], extra: LookupOutcome
) -> None:
    before = canary_fault({f"c{i}.cz": o for i, o in enumerate(outcomes)})
    after = canary_fault({f"c{i}.cz": o for i, o in enumerate([*outcomes, extra])})
    assert before is None or after is not None


@given(outcome_lists)
def test_one_more_answering_canary_never_makes_a_fault(outcomes: list[LookupOutcome]) -> None:
    before = canary_fault({f"c{i}.cz": o for i, o in enumerate(outcomes)})
    after = canary_fault({f"c{i}.cz": o for i, o in enumerate([*outcomes, A])})
    assert before is not None or after is None


@given(outcome_lists)
def test_a_fault_means_most_canaries_failed(outcomes: list[LookupOutcome]) -> None:
    failed = sum(1 for o in outcomes if o is not A)
    fault = canary_fault({f"c{i}.cz": o for i, o in enumerate(outcomes)})
    assert (fault is not None) == (failed * 2 > len(outcomes))


def test_a_failure_is_believed_only_after_a_check_that_started_after_its_lookup() -> None:
    health = DnsHealth(canaries=CANARIES, interval_seconds=30)
    assert health.trust(looked_up_at=1.0, now=1.5) == Trust.CHECK  # never checked yet
    health.record_canaries(canaries(A, A, A, A, A), started_at=2.0, now=2.1)
    assert health.trust(looked_up_at=1.0, now=2.2) == Trust.BELIEVE
    assert health.trust(looked_up_at=2.0, now=2.2) == Trust.BELIEVE
    # A lookup after the check: the resolver may have broken since.
    assert health.trust(looked_up_at=3.0, now=3.1) == Trust.CHECK
    health.record_canaries(canaries(NX, NX, NX, NX, NX), started_at=3.5, now=3.6)
    assert health.fault(3.7) == DnsFault.NXDOMAIN
    assert health.trust(looked_up_at=3.0, now=3.7) == Trust.HOLD
    assert health.trust(looked_up_at=1.0, now=3.7) == Trust.HOLD  # whatever its time: held
    assert health.skip_lookups(3.7)
    # A check that started before the last one, finishing late, changes nothing.
    health.record_canaries(canaries(A, A, A, A, A), started_at=3.4, now=3.8)
    assert health.fault(3.9) == DnsFault.NXDOMAIN
    health.record_canaries(canaries(A, A, A, A, A), started_at=4.0, now=4.1)
    assert health.fault(4.2) is None and not health.skip_lookups(4.2)
    assert health.trust(looked_up_at=3.9, now=4.2) == Trust.BELIEVE


def test_canaries_are_checked_on_the_interval_and_when_failures_spread() -> None:
    health = DnsHealth(canaries=CANARIES, interval_seconds=30, window_seconds=60, min_domains=3)
    assert health.canaries_due(0.0)  # never checked
    health.record_canaries(canaries(A, A, A, A, A), started_at=0.0, now=0.1)
    assert not health.canaries_due(10.0)
    health.record_lookup("one.cz", NX, now=11.0)
    health.record_lookup("one.cz", NX, now=11.5)
    health.record_lookup("two.cz", TIMEOUT, now=12.0)
    assert not health.canaries_due(12.0)  # two domains: their own trouble, maybe
    health.record_lookup("three.cz", NX, now=13.0)
    assert health.spreading(13.0) and health.canaries_due(13.0)  # three unrelated ones: check now
    assert health.fault(13.0) is None  # with canaries, only they can say DNS is broken
    health.record_canaries(canaries(A, A, A, A, A), started_at=13.0, now=13.2)
    assert not health.spreading(13.2) and not health.canaries_due(13.2)  # the domains' own failures
    assert health.canaries_due(43.0)  # the interval


def test_an_answer_clears_the_spread() -> None:
    health = DnsHealth(canaries=CANARIES, interval_seconds=30, window_seconds=60, min_domains=3)
    health.record_canaries(canaries(A, A, A, A, A), started_at=0.0, now=0.0)
    for i, name in enumerate(("a.cz", "b.cz")):
        health.record_lookup(name, NX, now=1.0 + i)
    health.record_lookup("answers.cz", A, now=3.0)
    health.record_lookup("c.cz", NX, now=4.0)
    assert not health.spreading(4.0)


def test_without_canaries_the_spread_alone_decides_and_an_answer_clears_it() -> None:
    health = DnsHealth(canaries=(), window_seconds=60, min_domains=3)
    assert health.trust(looked_up_at=0.0, now=0.0) == Trust.BELIEVE
    assert not health.canaries_due(0.0)
    for i, name in enumerate(("a.cz", "b.cz", "c.cz")):
        health.record_lookup(name, TIMEOUT, now=float(i))
    assert health.fault(3.0) == DnsFault.UNREACHABLE
    assert health.trust(looked_up_at=3.0, now=3.0) == Trust.HOLD
    assert not health.skip_lookups(3.0)  # lookups go on: an answer is what clears it
    health.record_lookup("d.cz", A, now=4.0)
    assert health.fault(4.0) is None
    for i, name in enumerate(("a.cz", "b.cz", "c.cz")):
        health.record_lookup(name, NX, now=5.0 + i)
    assert health.fault(8.0) == DnsFault.NXDOMAIN
    assert health.fault(100.0) is None  # aged out of the window


class Model:
    """The rules restated plainly, to hold DnsHealth to them over any sequence of events."""

    def __init__(self, canaries: Sequence[str], interval: float, window: float, min_domains: int) -> None:
        self.canaries, self.interval, self.window, self.min_domains = canaries, interval, window, min_domains
        self.failures: list[tuple[float, str, LookupOutcome]] = []
        self.checked_at: float | None = None
        self.fault: DnsFault | None = None

    def live_failures(self, now: float) -> list[tuple[float, str, LookupOutcome]]:
        return [f for f in self.failures if now - f[0] <= self.window]

    def spreading(self, now: float) -> bool:
        return len({d for _, d, _ in self.live_failures(now)}) >= self.min_domains

    def current_fault(self, now: float) -> DnsFault | None:
        if self.canaries:
            return self.fault
        live = self.live_failures(now)
        return fault_of(o for _, _, o in live) if self.spreading(now) else None

    def trust(self, looked_up_at: float, now: float) -> Trust:
        if self.current_fault(now) is not None:
            return Trust.HOLD
        if not self.canaries or (self.checked_at is not None and self.checked_at >= looked_up_at):
            return Trust.BELIEVE
        return Trust.CHECK


lookup_events = st.tuples(
    st.just("lookup"), st.sampled_from(["a.cz", "b.cz", "c.cz", "d.cz"]), st.sampled_from(list(LookupOutcome))
)
check_events = st.tuples(
    st.just("check"),
    st.lists(st.sampled_from([A, NX, TIMEOUT]), min_size=1, max_size=3),
    st.floats(min_value=0, max_value=5),
)


@given(
    st.booleans(),
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=20), st.one_of(lookup_events, check_events)), max_size=30
    ),
)
def test_the_guard_follows_its_rules_over_any_sequence(
    with_canaries: bool, steps: list[tuple[float, tuple[Any, ...]]]
) -> None:
    names = ("c1.cz", "c2.cz", "c3.cz") if with_canaries else ()
    health = DnsHealth(canaries=names, interval_seconds=10, window_seconds=15, min_domains=2)
    model = Model(names, 10, 15, 2)
    now = 0.0
    for gap, event in steps:
        now += gap
        if event[0] == "lookup":
            _, domain, outcome = event
            health.record_lookup(domain, outcome, now=now)
            if outcome is A:
                model.failures.clear()
            else:
                model.failures.append((now, domain, outcome))
        else:
            _, outcomes, age = event
            started = now - age
            health.record_canaries(
                dict(zip(names or ("x.cz",), outcomes, strict=False)), started_at=started, now=now
            )
            if model.checked_at is None or started >= model.checked_at:
                model.checked_at = started
                model.fault = canary_fault(dict(zip(names or ("x.cz",), outcomes, strict=False)))
                if model.fault is None:
                    model.failures = [f for f in model.failures if f[0] > started]
        assert health.fault(now) == model.current_fault(now)
        for looked_up_at in (now - 3, now):
            assert health.trust(looked_up_at, now) == model.trust(looked_up_at, now)
        # Never believed while at fault; never held while DNS is fine and a later check vouched for it.
        if health.fault(now) is not None:
            assert health.trust(now, now) == Trust.HOLD


@pytest.mark.parametrize(
    ("text", "domains"),
    [
        ("gmail.com,outlook.com", ("gmail.com", "outlook.com")),
        (" Seznam.CZ. , icloud.com ", ("seznam.cz", "icloud.com")),
        ("", ()),
        (" , ", ()),
    ],
)
def test_canary_lists(text: str, domains: tuple[str, ...]) -> None:
    assert parse_domains(text) == domains


@pytest.mark.parametrize("text", ["localhost", "gmail..com", "gmail com.cz"])
def test_canaries_must_be_domain_names(text: str) -> None:
    with pytest.raises(ValueError, match="domain name"):
        parse_domains(text)
