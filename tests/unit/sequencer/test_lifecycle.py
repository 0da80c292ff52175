"""The sequencer's campaign decisions (services/sequencer/lifecycle.py): settings, sequence and status,
each answering the changed campaign with its CampaignUpdated, or every reason it is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import CampaignUpdated
from contracts.campaign_settings import CampaignStatus
from contracts.schedule import Schedule
from services.sequencer.domain import Campaign, CampaignSettings
from services.sequencer.lifecycle import (
    Changed,
    Refused,
    activate,
    complete,
    pause,
    reopen,
    replace_sequence,
    resume,
    update_settings,
)
from services.sequencer.sequence import StepDraft

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MAILBOX = uuid.UUID(int=7)
STEP = StepDraft("Hello {{first_name|there}}", "Body", 0)
PRAGUE = {"timezone": "Europe/Prague", "days": ["mon", "tue"], "from": "09:00", "to": "17:00"}


def campaign(
    status: CampaignStatus = CampaignStatus.DRAFT,
    steps: tuple[StepDraft, ...] = (),
    mailboxes: tuple[uuid.UUID, ...] = (),
) -> Campaign:
    return Campaign(
        id=uuid.UUID(int=1),
        workspace_id=uuid.UUID(int=2),
        name="Jaro",
        status=status,
        created_at=NOW,
        settings=CampaignSettings(mailbox_ids=mailboxes),
        steps=steps,
    )


def only_event(outcome: Changed | Refused) -> CampaignUpdated:
    assert isinstance(outcome, Changed)
    (event,) = outcome.events
    assert event.campaign_id == outcome.campaign.id and event.occurred_at == NOW
    assert event.status.value == outcome.campaign.status.value
    return event


def test_a_new_campaign_has_the_issue_s_defaults() -> None:
    settings = campaign().settings
    assert (settings.stop_on_reply, settings.wait_for_validation, settings.send_to_unknown) == (
        True,
        True,
        True,
    )
    assert (settings.schedule, settings.mailbox_ids, settings.daily_limit) == (None, (), None)
    assert settings.stop_on_company_reply is False


def test_the_stop_on_a_company_reply_is_set_kept_and_announced() -> None:
    outcome = update_settings(campaign(), {"stop_on_company_reply": True}, NOW)
    event = only_event(outcome)
    assert isinstance(outcome, Changed) and outcome.campaign.settings.stop_on_company_reply
    assert event.settings.stop_on_company_reply and event.settings.stop_on_reply
    kept = update_settings(outcome.campaign, {"daily_limit": 5}, NOW)
    assert isinstance(kept, Changed) and kept.campaign.settings.stop_on_company_reply


def test_settings_change_only_the_named_fields_and_are_announced() -> None:
    before = campaign(mailboxes=(MAILBOX,))
    outcome = update_settings(before, {"schedule": PRAGUE, "daily_limit": 50, "send_to_unknown": False}, NOW)
    event = only_event(outcome)
    assert isinstance(outcome, Changed)
    settings = outcome.campaign.settings
    assert settings.schedule == Schedule.from_json(PRAGUE)
    assert (settings.daily_limit, settings.send_to_unknown, settings.mailbox_ids) == (50, False, (MAILBOX,))
    assert settings.stop_on_reply and settings.wait_for_validation
    assert event.settings.schedule is not None and event.settings.schedule.start == "09:00"
    assert event.settings.daily_limit == 50 and event.settings.mailbox_ids == [MAILBOX]


def test_null_clears_the_schedule_and_the_daily_limit() -> None:
    outcome = update_settings(campaign(), {"schedule": PRAGUE, "daily_limit": 5}, NOW)
    assert isinstance(outcome, Changed)
    cleared = update_settings(outcome.campaign, {"schedule": None, "daily_limit": None}, NOW)
    assert isinstance(cleared, Changed)
    assert (cleared.campaign.settings.schedule, cleared.campaign.settings.daily_limit) == (None, None)


def test_repeated_mailboxes_are_kept_once_in_order() -> None:
    other = uuid.UUID(int=8)
    outcome = update_settings(campaign(), {"mailbox_ids": [other, MAILBOX, other]}, NOW)
    assert isinstance(outcome, Changed) and outcome.campaign.settings.mailbox_ids == (other, MAILBOX)


@pytest.mark.parametrize(
    ("values", "reasons"),
    [
        (
            {"schedule": {"timezone": "Mars/Olympus", "days": ["mon"], "from": "18:00", "to": "09:00"}},
            (
                "schedule.timezone: unknown time zone 'Mars/Olympus' (an IANA name)",
                "schedule.to: must be later than from (18:00 to 09:00 is empty)",
            ),
        ),
        ({"daily_limit": 0}, ("daily_limit: must be at least 1 (or null for no limit)",)),
        ({"stop_on_reply": None}, ("stop_on_reply: must be true or false",)),
        ({"stop_on_company_reply": None}, ("stop_on_company_reply: must be true or false",)),
        ({"colour": "red"}, ("colour: not a campaign setting",)),
    ],
)
def test_invalid_settings_are_refused_with_every_reason(
    values: dict[str, object], reasons: tuple[str, ...]
) -> None:
    assert update_settings(campaign(), values, NOW) == Refused(reasons, invalid=True)


def test_a_sequence_keeps_the_steps_as_written() -> None:
    steps = (STEP, StepDraft("", "Following up", 60 * 24))
    outcome = replace_sequence(campaign(), steps, NOW)
    event = only_event(outcome)
    assert isinstance(outcome, Changed) and outcome.campaign.steps == steps
    assert [(s.subject, s.delay_minutes) for s in event.steps] == [
        ("Hello {{first_name|there}}", 0),
        ("", 1440),
    ]


def test_a_sequence_is_refused_with_every_error_naming_step_field_and_variable() -> None:
    steps = (StepDraft("", "Hi {{frist_name}}", 0), StepDraft("Next", " ", -1))
    outcome = replace_sequence(campaign(), steps, NOW)
    assert isinstance(outcome, Refused) and outcome.invalid
    assert outcome.reasons[0].startswith("step 1, subject: the first step needs a subject")
    assert outcome.reasons[1].startswith("step 1, body: ") and "(variable 'frist_name')" in outcome.reasons[1]
    assert outcome.reasons[2:] == (
        "step 2, body: a step needs a body",
        "step 2, delay_minutes: the delay cannot be negative",
    )


def test_an_empty_sequence_is_refused() -> None:
    assert replace_sequence(campaign(), (), NOW) == Refused(
        ("steps, steps: a sequence needs at least one step",), invalid=True
    )


def test_a_completed_campaign_no_longer_changes() -> None:
    done = campaign(CampaignStatus.COMPLETED, (STEP,), (MAILBOX,))
    assert update_settings(done, {"daily_limit": 3}, NOW) == Refused(
        ("the campaign is completed; its settings no longer change",)
    )
    assert replace_sequence(done, (STEP,), NOW) == Refused(
        ("the campaign is completed; its sequence no longer changes",)
    )


@pytest.mark.parametrize(
    ("draft", "reasons"),
    [
        (
            campaign(),
            ("the campaign has no steps: save a sequence first", "the campaign has no mailbox to send from"),
        ),
        (campaign(steps=(STEP,)), ("the campaign has no mailbox to send from",)),
        (campaign(mailboxes=(MAILBOX,)), ("the campaign has no steps: save a sequence first",)),
        (
            campaign(CampaignStatus.ACTIVE),
            (
                "the campaign is active; only a draft can be activated",
                "the campaign has no steps: save a sequence first",
                "the campaign has no mailbox to send from",
            ),
        ),
    ],
)
def test_activation_is_refused_with_every_reason(draft: Campaign, reasons: tuple[str, ...]) -> None:
    assert activate(draft, NOW) == Refused(reasons)


def test_a_ready_draft_activates_pauses_and_resumes() -> None:
    ready = campaign(steps=(STEP,), mailboxes=(MAILBOX,))
    active = activate(ready, NOW)
    assert only_event(active).status.value == "active"
    assert isinstance(active, Changed)
    paused = pause(active.campaign, NOW)
    assert isinstance(paused, Changed) and paused.campaign.status is CampaignStatus.PAUSED
    resumed = resume(paused.campaign, NOW)
    assert isinstance(resumed, Changed) and resumed.campaign.status is CampaignStatus.ACTIVE


@pytest.mark.parametrize(
    ("status", "action", "reason"),
    [
        (CampaignStatus.DRAFT, pause, "the campaign is draft; only an active campaign can be paused"),
        (CampaignStatus.PAUSED, pause, "the campaign is paused; only an active campaign can be paused"),
        (CampaignStatus.DRAFT, resume, "the campaign is draft; only a paused campaign can be resumed"),
        (CampaignStatus.ACTIVE, resume, "the campaign is active; only a paused campaign can be resumed"),
        (
            CampaignStatus.COMPLETED,
            resume,
            "the campaign is completed; only a paused campaign can be resumed",
        ),
    ],
)
def test_pause_and_resume_need_the_right_status(status: CampaignStatus, action: object, reason: str) -> None:
    assert callable(action)
    assert action(campaign(status, (STEP,), (MAILBOX,)), NOW) == Refused((reason,))


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (CampaignStatus.ACTIVE, complete, CampaignStatus.COMPLETED),
        (CampaignStatus.COMPLETED, reopen, CampaignStatus.ACTIVE),
        (CampaignStatus.DRAFT, complete, "the campaign is draft; only an active campaign completes"),
        (CampaignStatus.PAUSED, complete, "the campaign is paused; only an active campaign completes"),
        (CampaignStatus.COMPLETED, complete, "the campaign is completed; only an active campaign completes"),
        (CampaignStatus.ACTIVE, reopen, "the campaign is active; only a completed campaign reopens"),
        (CampaignStatus.PAUSED, reopen, "the campaign is paused; only a completed campaign reopens"),
    ],
)
def test_only_an_active_campaign_completes_and_only_a_completed_one_reopens(
    status: CampaignStatus, action: object, after: CampaignStatus | str
) -> None:
    assert callable(action)
    outcome = action(campaign(status, (STEP,), (MAILBOX,)), NOW)
    if isinstance(after, CampaignStatus):
        assert only_event(outcome).status.value == after.value
    else:
        assert outcome == Refused((after,))


ALLOWED = {
    (CampaignStatus.DRAFT, CampaignStatus.ACTIVE),
    (CampaignStatus.ACTIVE, CampaignStatus.PAUSED),
    (CampaignStatus.PAUSED, CampaignStatus.ACTIVE),
    (CampaignStatus.ACTIVE, CampaignStatus.COMPLETED),
    (CampaignStatus.COMPLETED, CampaignStatus.ACTIVE),
}
COMMANDS = st.sampled_from(
    [
        "activate",
        "pause",
        "resume",
        "complete",
        "reopen",
        "steps",
        "no_steps",
        "mailbox",
        "no_mailbox",
        "limit",
    ]
)


@given(st.sampled_from(list(CampaignStatus)), st.lists(COMMANDS, max_size=30))
def test_any_sequence_of_commands_moves_status_only_along_allowed_transitions(
    start: CampaignStatus, commands: list[str]
) -> None:
    current = campaign(start)
    for name in commands:
        outcome: Changed | Refused
        match name:
            case "activate":
                outcome = activate(current, NOW)
            case "pause":
                outcome = pause(current, NOW)
            case "resume":
                outcome = resume(current, NOW)
            case "complete":
                outcome = complete(current, NOW)
            case "reopen":
                outcome = reopen(current, NOW)
            case "steps":
                outcome = replace_sequence(current, (STEP,), NOW)
            case "no_steps":
                outcome = replace_sequence(current, (), NOW)
            case "mailbox":
                outcome = update_settings(current, {"mailbox_ids": [MAILBOX]}, NOW)
            case "no_mailbox":
                outcome = update_settings(current, {"mailbox_ids": []}, NOW)
            case _:
                outcome = update_settings(current, {"daily_limit": 10}, NOW)
        if isinstance(outcome, Refused):
            assert outcome.reasons
            continue
        after = outcome.campaign
        assert after.status == current.status or (current.status, after.status) in ALLOWED
        if (current.status, after.status) == (CampaignStatus.DRAFT, CampaignStatus.ACTIVE):
            assert after.steps and after.settings.mailbox_ids
        assert only_event(outcome).status.value == after.status.value
        current = after
