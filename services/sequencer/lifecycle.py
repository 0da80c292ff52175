"""A campaign's settings, sequence and status changes: pure decisions, no I/O. Each answers the changed
campaign with the `CampaignUpdated` to emit, or a typed refusal naming every reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from contracts import CampaignUpdated
from contracts.campaign_settings import (
    MAX_BOUNCE_WINDOW,
    MIN_BOUNCE_WINDOW,
    CampaignSettingsData,
    CampaignStatus,
    PauseReason,
    ScheduleData,
    StepData,
)
from contracts.schedule import InvalidSchedule, Schedule
from services.sequencer.bounce_protection import BounceProtection
from services.sequencer.domain import Campaign, CampaignSettings
from services.sequencer.sequence import SequenceRefused, StepDraft, validate_sequence

SETTING_FIELDS = (
    "schedule",
    "mailbox_ids",
    "daily_limit",
    "stop_on_reply",
    "stop_on_company_reply",
    "wait_for_validation",
    "send_to_unknown",
    "bounce_protection",
)


@dataclass(frozen=True)
class Changed:
    campaign: Campaign
    events: tuple[CampaignUpdated, ...]


@dataclass(frozen=True)
class Refused:
    """Not changed: `reasons` holds every one; `invalid` is the request's fault (422), otherwise the
    campaign's state does not allow it (409)."""

    reasons: tuple[str, ...]
    invalid: bool = False


# The status each action needs, the one it leads to, and how the refusal says it.
_TRANSITIONS: dict[str, tuple[CampaignStatus, CampaignStatus, str]] = {
    "activate": (CampaignStatus.DRAFT, CampaignStatus.ACTIVE, "only a draft can be activated"),
    "pause": (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, "only an active campaign can be paused"),
    "resume": (CampaignStatus.PAUSED, CampaignStatus.ACTIVE, "only a paused campaign can be resumed"),
    # Not a user's actions: the emission pass's, when every lead has finished and when new ones are due.
    "complete": (CampaignStatus.ACTIVE, CampaignStatus.COMPLETED, "only an active campaign completes"),
    "reopen": (CampaignStatus.COMPLETED, CampaignStatus.ACTIVE, "only a completed campaign reopens"),
}


def update_settings(campaign: Campaign, values: Mapping[str, Any], now: datetime) -> Changed | Refused:
    """Set the named settings (`values` holds only the fields the caller named; None clears the schedule
    or the daily limit). A completed campaign's settings no longer change."""
    if unknown := sorted(set(values) - set(SETTING_FIELDS)):
        return Refused(tuple(f"{name}: not a campaign setting" for name in unknown), invalid=True)
    reasons: list[str] = []
    changes: dict[str, Any] = {}
    for name, value in values.items():
        match name:
            case "schedule":
                changes[name] = _schedule(value, reasons)
            case "mailbox_ids":
                changes[name] = tuple(dict.fromkeys(value or ()))
            case "daily_limit":
                if value is not None and value < 1:
                    reasons.append("daily_limit: must be at least 1 (or null for no limit)")
                changes[name] = value
            case "bounce_protection":
                changes[name] = _bounce_protection(campaign.settings.bounce_protection, value, reasons)
            case _:
                if value is None:
                    reasons.append(f"{name}: must be true or false")
                changes[name] = value
    if reasons:
        return Refused(tuple(reasons), invalid=True)
    if campaign.status is CampaignStatus.COMPLETED:
        return Refused(("the campaign is completed; its settings no longer change",))
    return _changed(replace(campaign, settings=replace(campaign.settings, **changes)), now)


def replace_sequence(campaign: Campaign, drafts: Sequence[StepDraft], now: datetime) -> Changed | Refused:
    """The new steps, or every error of them (step, field, what is wrong, the variable)."""
    checked = validate_sequence(drafts)
    if isinstance(checked, SequenceRefused):
        return Refused(tuple(_step_error(e) for e in checked.errors), invalid=True)
    if campaign.status is CampaignStatus.COMPLETED:
        return Refused(("the campaign is completed; its sequence no longer changes",))
    return _changed(replace(campaign, steps=tuple(drafts)), now)


def activate(campaign: Campaign, now: datetime, mailbox_failures: Sequence[str] = ()) -> Changed | Refused:
    """A draft starts sending: refused with every reason it cannot (no steps, no mailbox, not a draft, and
    each failure of the gateway's test of the campaign's mailboxes)."""
    reasons = list(_status_reasons(campaign, "activate"))
    if not campaign.steps:
        reasons.append("the campaign has no steps: save a sequence first")
    if not campaign.settings.mailbox_ids:
        reasons.append("the campaign has no mailbox to send from")
    reasons.extend(mailbox_failures)
    if reasons:
        return Refused(tuple(reasons))
    return _changed(
        replace(campaign, status=CampaignStatus.ACTIVE, activated_at=campaign.activated_at or now), now
    )


def pause(campaign: Campaign, now: datetime) -> Changed | Refused:
    return _move(campaign, "pause", now)


def protect(campaign: Campaign, detail: str, now: datetime) -> Changed | Refused:
    """Bounce protection pauses the active campaign itself, as a person's pause would (the mailer follows
    the CampaignUpdated), with the reason and `detail` in words until a person resumes it."""
    if reasons := _status_reasons(campaign, "pause"):
        return Refused(reasons)
    paused = replace(
        campaign,
        status=CampaignStatus.PAUSED,
        paused_reason=PauseReason.BOUNCE_PROTECTION,
        paused_detail=detail,
    )
    return _changed(paused, now)


def resume(campaign: Campaign, now: datetime) -> Changed | Refused:
    """A person resumes: the pause's reason is cleared, and bounce protection judges only the sends made
    from now on (the bounces of earlier sends, which may still arrive as DSNs, would pause it at once)."""
    if reasons := _status_reasons(campaign, "resume"):
        return Refused(reasons)
    resumed = replace(
        campaign, status=CampaignStatus.ACTIVE, paused_reason=None, paused_detail=None, protected_since=now
    )
    return _changed(resumed, now)


def complete(campaign: Campaign, now: datetime) -> Changed | Refused:
    """Every lead of the active campaign has finished (its last step sent, or its sequence stopped)."""
    return _move(campaign, "complete", now)


def reopen(campaign: Campaign, now: datetime) -> Changed | Refused:
    """Leads added to the completed campaign are due: it is active again, to send them."""
    return _move(campaign, "reopen", now)


def _move(campaign: Campaign, action: str, now: datetime) -> Changed | Refused:
    if reasons := _status_reasons(campaign, action):
        return Refused(reasons)
    return _changed(replace(campaign, status=_TRANSITIONS[action][1]), now)


def _status_reasons(campaign: Campaign, action: str) -> tuple[str, ...]:
    needed, _, rule = _TRANSITIONS[action]
    if campaign.status is needed:
        return ()
    return (f"the campaign is {campaign.status.value}; {rule}",)


def _schedule(value: Any, reasons: list[str]) -> Schedule | None:
    if value is None:
        return None
    try:
        return Schedule.from_json(value)
    except InvalidSchedule as exc:
        reasons.extend(f"schedule.{e.field}: {e.message}" for e in exc.errors)
        return None


def _bounce_protection(current: BounceProtection, value: Any, reasons: list[str]) -> BounceProtection:
    """The named fields over the current ones (a field left out or null keeps its value), every range
    checked, and the minimum sample no larger than the window."""
    if not isinstance(value, Mapping):
        reasons.append("bounce_protection: must be an object")
        return current
    fields = {k: v for k, v in value.items() if v is not None}
    if unknown := sorted(set(fields) - set(current.to_json())):
        reasons.extend(f"bounce_protection.{name}: not a bounce protection setting" for name in unknown)
        return current
    merged = BounceProtection(**(current.to_json() | fields))
    if not 1 <= merged.threshold_percent <= 100:
        reasons.append("bounce_protection.threshold_percent: must be from 1 to 100")
    window_valid = MIN_BOUNCE_WINDOW <= merged.window <= MAX_BOUNCE_WINDOW
    if not window_valid:
        reasons.append(
            f"bounce_protection.window: must be from {MIN_BOUNCE_WINDOW} to {MAX_BOUNCE_WINDOW:,} sends"
        )
    if merged.min_sample < 1:
        reasons.append("bounce_protection.min_sample: must be at least 1")
    elif window_valid and merged.min_sample > merged.window:
        reasons.append(f"bounce_protection.min_sample: must not exceed the window ({merged.window} sends)")
    return merged


def _step_error(error: Any) -> str:
    where = "steps" if error.step is None else f"step {error.step}"
    variable = f" (variable {error.variable!r})" if error.variable else ""
    return f"{where}, {error.field}: {error.message}{variable}"


def _changed(campaign: Campaign, now: datetime) -> Changed:
    return Changed(campaign, (updated_event(campaign, now),))


def settings_data(settings: CampaignSettings) -> CampaignSettingsData:
    schedule = None if settings.schedule is None else ScheduleData.model_validate(settings.schedule.to_json())
    return CampaignSettingsData(
        schedule=schedule,
        mailbox_ids=list(settings.mailbox_ids),
        daily_limit=settings.daily_limit,
        stop_on_reply=settings.stop_on_reply,
        stop_on_company_reply=settings.stop_on_company_reply,
        wait_for_validation=settings.wait_for_validation,
        send_to_unknown=settings.send_to_unknown,
        bounce_protection=settings.bounce_protection.data(),
    )


def steps_data(campaign: Campaign) -> list[StepData]:
    return [StepData(subject=s.subject, body=s.body, delay_minutes=s.delay_minutes) for s in campaign.steps]


def updated_event(campaign: Campaign, now: datetime) -> CampaignUpdated:
    return CampaignUpdated(
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        status=campaign.status,
        settings=settings_data(campaign.settings),
        steps=steps_data(campaign),
        occurred_at=now,
    )
