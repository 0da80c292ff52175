"""Commands to the validator: a campaign's verification status and re-runs."""

from uuid import UUID

from pydantic import Field

from contracts.commands.base import Command
from contracts.replies import Reply
from contracts.text import Text


class GetValidationStatus(Command):
    """The validator's view of a campaign: leads still queued for verification, and its own health."""

    campaign_id: UUID


class ValidationStatusReply(Reply):
    # Leads of the campaign waiting for a (first or later) verification pass.
    queued: int = 0
    # Of those, leads held back because the validator itself looks at fault (see `degraded`).
    held: int = 0
    # True when the validator cannot trust its own checks: SMTP probes fail across many unrelated domains
    # (port 25 blocked, the prober's IP listed), or its DNS resolver fails for well-known mail domains.
    # Verification of what that affects is paused rather than giving addresses verdicts for our own fault.
    degraded: bool = False
    # Why it is degraded, in words for a person ("DNS resolver unreachable", ...); None when not.
    reason: str | None = None


# Every reason code a verdict can carry (`LeadValidated.reason`): what a re-run may select.
VERDICT_REASONS: tuple[str, ...] = (
    "accepted",
    "invalid_syntax",
    "no_such_domain",
    "null_mx",
    "no_mail_server",
    "mailbox_not_found",
    "mailbox_full",
    "catch_all",
    "policy_block",
    "greylisted",
    "temporary_failure",
    "smtp_rejected",
    "dns_timeout",
    "dns_error",
    "mx_unreachable",
    "smtp_timeout",
)


class RerunValidation(Command):
    """Verify a campaign's verified leads again, those whose verdict has one of `reasons` (all when
    empty). Leads still queued or being verified are left alone, so a repeated request queues nothing
    twice. Each lead re-queued gets the next run number, which its new verdict carries."""

    campaign_id: UUID
    reasons: list[Text] = Field(default_factory=list, max_length=100)


def unknown_reasons(reasons: list[str]) -> str | None:
    """What is wrong with a re-run's reason codes, in words naming the valid ones; None when nothing."""
    unknown = sorted(set(reasons) - set(VERDICT_REASONS))
    if not unknown:
        return None
    return (
        f"Unknown reason code{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
        f"Valid reason codes: {', '.join(VERDICT_REASONS)}."
    )


class ValidationRerunReply(Reply):
    # Leads queued for another verification.
    queued: int = 0
