"""Bounce protection's decisions (services/sequencer/bounce_protection.py) and what they do to a campaign
(lifecycle.update_settings, protect, resume): what counts as a bounce, when a rate is over the threshold,
the pause's words, and the setting's validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.campaign_settings import BounceProtectionData, CampaignStatus, PauseReason
from services.sequencer.bounce_protection import (
    BounceProtection,
    counts_as_bounce,
    over_threshold,
    pause_detail,
    percent,
)
from services.sequencer.domain import Campaign
from services.sequencer.lifecycle import Changed, Refused, pause, protect, resume, update_settings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEFAULT = BounceProtection()


def campaign(status: CampaignStatus = CampaignStatus.ACTIVE) -> Campaign:
    return Campaign(
        id=uuid.UUID(int=1), workspace_id=uuid.UUID(int=2), name="Jaro", status=status, created_at=NOW
    )


def test_the_defaults_are_the_issue_s_and_the_wire_s() -> None:
    assert BounceProtection(enabled=True, threshold_percent=5, window=100, min_sample=20) == DEFAULT
    assert DEFAULT.data() == BounceProtectionData()
    assert BounceProtection.from_json({}) == DEFAULT
    assert BounceProtection.from_json(DEFAULT.to_json() | {"window": 50}).window == 50


@pytest.mark.parametrize(
    ("kind", "status", "counts"),
    [
        ("hard", None, True),
        ("hard", "5.1.1", True),
        ("soft", "5.7.1", True),  # a policy block: the receiving server refused the sender
        ("soft", "5.7.26", True),
        ("soft", "4.2.2", False),  # a full mailbox
        ("soft", "4.7.1", False),  # greylisting, a temporary policy answer
        ("soft", "5.70.1", False),  # not class 5.7
        ("soft", None, False),
        ("soft", "", False),
    ],
)
def test_hard_bounces_and_policy_blocks_count(kind: str, status: str | None, counts: bool) -> None:
    assert counts_as_bounce(kind, status) is counts


@pytest.mark.parametrize(
    ("sends", "bounces", "settings", "over"),
    [
        (20, 2, DEFAULT, True),  # 10% > 5%
        (20, 1, DEFAULT, False),  # exactly 5% is not over
        (19, 5, DEFAULT, False),  # under the minimum sample
        (100, 5, DEFAULT, False),
        (100, 6, DEFAULT, True),
        (100, 7, BounceProtection(threshold_percent=7), False),
        (100, 8, BounceProtection(threshold_percent=7), True),
        (100, 100, BounceProtection(enabled=False), False),
        (5, 1, BounceProtection(min_sample=5, window=10), True),
        (0, 0, BounceProtection(min_sample=1, window=10), False),
        (40, 3, DEFAULT, True),  # 7.5%
    ],
)
def test_over_the_threshold(sends: int, bounces: int, settings: BounceProtection, over: bool) -> None:
    assert over_threshold(sends, bounces, settings) is over


SETTINGS = st.builds(
    BounceProtection,
    enabled=st.booleans(),
    threshold_percent=st.integers(1, 100),
    window=st.integers(10, 10_000),
    min_sample=st.integers(1, 10_000),
)


@given(SETTINGS, st.integers(0, 10_000), st.integers(0, 10_000))
def test_over_exactly_when_enabled_sampled_enough_and_the_rate_exceeds_the_limit(
    settings: BounceProtection, sends: int, extra: int
) -> None:
    bounces = min(extra, sends)
    expected = (
        settings.enabled
        and sends >= settings.min_sample
        and sends > 0
        and bounces / sends > settings.threshold_percent / 100 + 1e-12
    )
    assert over_threshold(sends, bounces, settings) is expected


@given(SETTINGS, st.integers(1, 10_000), st.integers(0, 10_000))
def test_more_bounces_among_the_same_sends_never_lift_a_pause(
    settings: BounceProtection, sends: int, bounces: int
) -> None:
    bounces = min(bounces, sends - 1)
    if over_threshold(sends, bounces, settings):
        assert over_threshold(sends, bounces + 1, settings)


@pytest.mark.parametrize(
    ("bounces", "sends", "words"), [(7, 100, "7%"), (3, 40, "7.5%"), (1, 3, "33.3%"), (0, 20, "0%")]
)
def test_the_share_in_words(bounces: int, sends: int, words: str) -> None:
    assert percent(bounces, sends) == words


def test_the_pause_names_the_count_the_share_the_limit_and_the_mailbox() -> None:
    assert pause_detail(100, 7, DEFAULT, "sales@x.cz") == (
        "7 of the last 100 sends bounced (7%), over the 5% limit; mailbox sales@x.cz"
    )
    assert pause_detail(20, 2, DEFAULT, None) == (
        "2 of the last 20 sends bounced (10%), over the 5% limit; this campaign"
    )


def test_the_setting_changes_only_the_named_fields() -> None:
    outcome = update_settings(campaign(), {"bounce_protection": {"threshold_percent": 8}}, NOW)
    assert isinstance(outcome, Changed)
    assert outcome.campaign.settings.bounce_protection == BounceProtection(threshold_percent=8)
    (event,) = outcome.events
    assert event.settings.bounce_protection.threshold_percent == 8 and event.settings.daily_limit is None
    off = update_settings(outcome.campaign, {"bounce_protection": {"enabled": False, "window": 500}}, NOW)
    assert isinstance(off, Changed)
    assert off.campaign.settings.bounce_protection == BounceProtection(False, 8, 500, 20)


@pytest.mark.parametrize(
    ("value", "reasons"),
    [
        (None, ("bounce_protection: must be an object",)),
        ({"threshold_percent": 0}, ("bounce_protection.threshold_percent: must be from 1 to 100",)),
        ({"threshold_percent": 101}, ("bounce_protection.threshold_percent: must be from 1 to 100",)),
        ({"window": 9}, ("bounce_protection.window: must be from 10 to 10,000 sends",)),
        (
            {"window": 10},  # the minimum sample (20) no longer fits
            ("bounce_protection.min_sample: must not exceed the window (10 sends)",),
        ),
        (
            {"min_sample": 0, "window": 100_000},
            (
                "bounce_protection.window: must be from 10 to 10,000 sends",
                "bounce_protection.min_sample: must be at least 1",
            ),
        ),
        ({"colour": "red"}, ("bounce_protection.colour: not a bounce protection setting",)),
    ],
)
def test_an_invalid_setting_is_refused_with_every_reason(value: object, reasons: tuple[str, ...]) -> None:
    outcome = update_settings(campaign(), {"bounce_protection": value}, NOW)
    assert outcome == Refused(reasons, invalid=True)


def test_protection_pauses_an_active_campaign_with_its_reason_and_a_resume_clears_it() -> None:
    detail = "2 of the last 20 sends bounced (10%), over the 5% limit; this campaign"
    paused = protect(campaign(), detail, NOW)
    assert isinstance(paused, Changed)
    assert paused.campaign.status is CampaignStatus.PAUSED
    assert (paused.campaign.paused_reason, paused.campaign.paused_detail) == (
        PauseReason.BOUNCE_PROTECTION,
        detail,
    )
    assert [e.status for e in paused.events] == [CampaignStatus.PAUSED]
    later = NOW + timedelta(hours=1)
    resumed = resume(paused.campaign, later)
    assert isinstance(resumed, Changed)
    assert resumed.campaign.status is CampaignStatus.ACTIVE
    assert (resumed.campaign.paused_reason, resumed.campaign.paused_detail) == (None, None)
    assert resumed.campaign.protected_since == later


@pytest.mark.parametrize("status", [CampaignStatus.DRAFT, CampaignStatus.PAUSED, CampaignStatus.COMPLETED])
def test_only_an_active_campaign_pauses_itself(status: CampaignStatus) -> None:
    outcome = protect(campaign(status), "why", NOW)
    assert isinstance(outcome, Refused) and not outcome.invalid


def test_a_person_s_pause_has_no_reason() -> None:
    outcome = pause(campaign(), NOW)
    assert isinstance(outcome, Changed) and outcome.campaign.paused_reason is None
