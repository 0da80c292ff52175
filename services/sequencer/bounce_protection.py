"""Bounce protection's decisions: pure, no I/O. A campaign pauses itself when too many of its latest sends
bounced, or too many of the latest sends of one of its mailboxes (counted across every campaign using it).

What counts as a bounce: a hard bounce, and a soft one whose enhanced status is 5.7.x (a policy block: the
receiving server refused the sender, not the address, which is what hurts the mailbox's reputation). Other
soft bounces (a full mailbox, a greylisting) say nothing about the list or the sender and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.campaign_settings import BounceProtectionData

# The enhanced status class of a policy refusal (RFC 3463: 5.7.x, "security or policy status").
POLICY_STATUS = "5.7"


@dataclass(frozen=True)
class BounceProtection:
    """A campaign's setting: over `threshold_percent` of the latest `window` sends bounced, with at least
    `min_sample` sends counted, pauses it."""

    enabled: bool = True
    threshold_percent: int = 5
    window: int = 100
    min_sample: int = 20

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "threshold_percent": self.threshold_percent,
            "window": self.window,
            "min_sample": self.min_sample,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> BounceProtection:
        """The stored JSON; a field it lacks (stored before it existed) is the default."""
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def data(self) -> BounceProtectionData:
        return BounceProtectionData.model_validate(self.to_json())


def counts_as_bounce(kind: str, status: str | None) -> bool:
    """Hard bounces, and soft ones refused by policy (5.7.x); see the module's docstring."""
    return kind == "hard" or (status or "").startswith(POLICY_STATUS + ".")


def over_threshold(sends: int, bounces: int, settings: BounceProtection) -> bool:
    """Whether `bounces` of the latest `sends` (at most the window's) is over the threshold: never with
    fewer sends than the minimum sample, nor when the protection is off. Exactly at the threshold is not
    over it. Integer arithmetic, so 1 of 20 at 5% is at it, never over by rounding."""
    if not settings.enabled or sends < settings.min_sample or sends <= 0:
        return False
    return bounces * 100 > settings.threshold_percent * sends


def percent(bounces: int, sends: int) -> str:
    """The share in words: "7%", "7.5%" (one decimal at most)."""
    value = 100 * bounces / sends if sends else 0.0
    return f"{value:.1f}".removesuffix(".0") + "%"


def pause_detail(sends: int, bounces: int, settings: BounceProtection, mailbox: str | None) -> str:
    """The pause's reason in words, e.g. "7 of the last 100 sends bounced (7%), over the 5% limit; mailbox
    sales@x.cz" (a mailbox's rate) or "...; this campaign" (the campaign's own)."""
    whose = "this campaign" if mailbox is None else f"mailbox {mailbox}"
    return (
        f"{bounces} of the last {sends} sends bounced ({percent(bounces, sends)}), "
        f"over the {settings.threshold_percent}% limit; {whose}"
    )
