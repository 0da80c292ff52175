"""One valid sample per event type, shared by the contract tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts import EVENT_TYPES, Event

WS = UUID("00000000-0000-4000-8000-0000000000a1")
CAMPAIGN = UUID("00000000-0000-4000-8000-0000000000c1")
LEAD = UUID("00000000-0000-4000-8000-0000000000d1")
IMPORT = UUID("00000000-0000-4000-8000-0000000000e1")
MAILBOX = UUID("00000000-0000-4000-8000-0000000000f1")

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)
T3 = T0 + timedelta(minutes=3)

_LEAD_FIELDS: dict[str, Any] = {"campaign_id": CAMPAIGN, "lead_id": LEAD}
_INBOUND: dict[str, Any] = {
    **_LEAD_FIELDS,
    "message_id": "<reply-1@example.com>",
    "from_address": "jane@example.com",
    "subject": "Re: hello",
    "snippet": "Thanks, let's talk",
}

SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "lead_imported": {
        "campaign_id": CAMPAIGN,
        "import_id": IMPORT,
        "chunk": 0,
        "leads": [
            {
                "lead_id": LEAD,
                "email": "jane@example.com",
                "row": 1,
                "first_name": "Jane",
                "company_name": "Acme",
                "custom": {"title": "CTO"},
            }
        ],
    },
    "import_completed": {
        "campaign_id": CAMPAIGN,
        "import_id": IMPORT,
        "state": "completed",
        "counts": {"imported": 1, "duplicates": 0},
    },
    "import_progress": {
        "campaign_id": CAMPAIGN,
        "import_id": IMPORT,
        "percent": 42.5,
        "rows_done": 17,
        "counts": {"imported": 17},
    },
    "campaign_created": {"campaign_id": CAMPAIGN, "name": "Q1 outreach"},
    "campaign_updated": {
        "campaign_id": CAMPAIGN,
        "status": "active",
        "settings": {
            "schedule": {"timezone": "Europe/Prague", "days": ["mon", "fri"], "from": "09:00", "to": "24:00"},
            "mailbox_ids": [str(CAMPAIGN)],
            "daily_limit": 40,
            "bounce_protection": {"enabled": True, "threshold_percent": 5, "window": 100, "min_sample": 20},
        },
        "steps": [{"subject": "Hi {{first_name|there}}", "body": "Hello", "delay_minutes": 0}],
    },
    "lead_validated": {
        **_LEAD_FIELDS,
        "email": "jane@example.com",
        "verdict": "valid",
        "reason": "smtp accepted",
        "mx": "mx.example.com",
        "smtp_code": 250,
    },
    "leads_validated": {
        "campaign_id": CAMPAIGN,
        "leads": [
            {
                "lead_id": _LEAD_FIELDS["lead_id"],
                "email": "jane@example.com",
                "verdict": "invalid",
                "reason": "mailbox_not_found",
                "mx": "mx.example.com",
                "smtp_code": 550,
                "run": 1,
            }
        ],
    },
    "step_due": {
        **_LEAD_FIELDS,
        "step": 2,
        "total_steps": 3,
        "due_at": T1,
        "email": "jane@example.com",
        "subject": "Re: Hi Jane",
        "body": "Following up.",
        "in_reply_to": "<sent-1@example.com>",
        "references": ["<sent-1@example.com>"],
        "mailbox_id": MAILBOX,
    },
    "email_sent": {
        **_LEAD_FIELDS,
        "step": 1,
        "total_steps": 3,
        "message_id": "<sent-1@example.com>",
        "mailbox": "sales@example.org",
        "mailbox_id": MAILBOX,
        "subject": "Hi Jane",
    },
    "send_uncertain": {
        **_LEAD_FIELDS,
        "step": 1,
        "total_steps": 3,
        "message_id": "<sent-1@example.com>",
        "mailbox": "sales@example.org",
        "mailbox_id": MAILBOX,
    },
    "send_failed": {
        **_LEAD_FIELDS,
        "step": 1,
        "total_steps": 3,
        "reason": "suppressed",
        "detail": "the address is on the suppression list",
    },
    "step_not_sendable": {**_LEAD_FIELDS, "step": 1, "total_steps": 3, "missing": ["first_name"]},
    "leads_scheduled": {
        "campaign_id": CAMPAIGN,
        "leads": [{"lead_id": LEAD, "step": 2, "total_steps": 3, "due_at": T2}],
    },
    "mailbox_health_changed": {
        "mailbox_id": MAILBOX,
        "email": "sales@example.org",
        "healthy": False,
        "reason": "535 authentication failed (5 sends in a row)",
    },
    "mailbox_changed": {"mailbox_id": MAILBOX, "removed": False},
    "email_bounced": {
        **_LEAD_FIELDS,
        "source": "dsn",
        "kind": "hard",
        "smtp_code": 550,
        "diagnostic": "5.1.1 user unknown",
        "email": "jane@example.com",
    },
    "reply_detected": _INBOUND,
    "auto_reply_detected": {**_INBOUND, "subject": "Out of office", "return_date": "2027-01-12"},
    "inbound_reclassified": {
        **_LEAD_FIELDS,
        "inbox_message_id": MAILBOX,
        "from_kind": "reply",
        "to_kind": "auto_reply",
        "by": "key:alice",
        "email": "jane@example.com",
        "undoes": "replied",
    },
    "inbox_message_stored": {
        **_LEAD_FIELDS,
        "inbox_message_id": MAILBOX,
        "mailbox_id": MAILBOX,
        "kind": "reply",
        "received_at": T1,
    },
    "lead_unsubscribed": {**_LEAD_FIELDS, "email": "jane@example.com", "source": "one_click"},
    "lead_completed": {**_LEAD_FIELDS, "total_steps": 3},
    "sequence_stopped": {
        **_LEAD_FIELDS,
        "reason": "company replied",
        "replied_lead_id": IMPORT,
        "domain": "example.com",
    },
    "lead_status_changed": {
        "campaign_id": CAMPAIGN,
        "lead_ids": [LEAD],
        "status": "replied",
        "changed_by": "user:alice",
        "reason": "replied by phone",
    },
    "leads_removed": {
        "campaign_id": CAMPAIGN,
        "lead_ids": [LEAD],
        "removed_by": "user:alice",
    },
}


def make(event_type: str, at: datetime = T0, **fields: Any) -> Event:
    data = {**SAMPLE_FIELDS[event_type], **fields}
    return EVENT_TYPES[event_type].model_validate({"workspace_id": WS, "occurred_at": at, **data})
