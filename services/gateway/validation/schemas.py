"""A campaign's email verification as the API answers it: the summary and a re-run."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.commands import VERDICT_REASONS
from contracts.text import Text

ValidatorState = Literal["ok", "degraded", "unavailable"]


class ValidatorStatus(BaseModel):
    state: ValidatorState = Field(
        description="`ok`: the validator answered and is verifying; `degraded`: it answered but cannot "
        "trust its own checks — its DNS resolver fails for well-known mail domains, or its SMTP prober "
        "looks blocked — so the leads that depend on them wait in `held` rather than getting a verdict "
        "for the validator's fault; `unavailable`: it did not answer within about 2 s (the counts are "
        "still current)."
    )
    queued: int | None = Field(
        description="Leads of the campaign waiting for a verification pass; null when `unavailable`."
    )
    held: int | None = Field(
        description="Of `queued`, leads held back while the validator is degraded; null when `unavailable`."
    )
    reason: str | None = Field(
        default=None,
        description='Why the validator is `degraded`, in words to show a user: "DNS resolver '
        'unreachable", "resolver answers NXDOMAIN for known domains", "SMTP probes fail across many '
        'unrelated domains …" (several joined by "; "); null otherwise.',
    )


class ValidationSummary(BaseModel):
    """How far email verification of a campaign's leads has got: wait for it before activating."""

    campaign_id: UUID
    total: int = Field(description="Leads in the campaign.")
    validated: int = Field(description="Leads with a verdict (`valid` + `invalid` + `unknown`).")
    in_progress: int = Field(description="Leads whose `validation` is still `pending`.")
    valid: int = Field(description="Leads whose address accepted mail.")
    invalid: int = Field(description="Leads whose address was rejected; their status is `invalid`.")
    unknown: int = Field(description="Leads the validator could not decide on (catch-all, greylisting, …).")
    percent: float = Field(
        description="validated / total * 100, rounded down to one decimal so 100 means all are done; "
        "100 for a campaign without leads."
    )
    reasons: dict[str, int] = Field(
        description="Validated leads by the validator's reason code (`accepted`, `mailbox_not_found`, "
        "`catch_all`, `greylisted`, …)."
    )
    validator: ValidatorStatus


class RerunIn(BaseModel):
    model_config = {"extra": "forbid"}

    reasons: list[Text] = Field(
        default_factory=list,
        max_length=100,
        description="Re-verify only leads whose verdict has one of these reason codes (`no_such_domain`, "
        f"`dns_timeout`, …; valid: {', '.join(VERDICT_REASONS)}). Omitted or empty: every verified lead.",
        examples=[["no_such_domain", "no_mail_server", "dns_timeout"]],
    )


class RerunOut(BaseModel):
    queued: int = Field(
        description="Leads queued for another verification. Leads still queued or being verified are not "
        "counted (nor queued twice), so repeating the request at once queues 0."
    )
