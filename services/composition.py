"""The composition root: the services Leadflow is made of, and what the runtime needs to know of each.

The runtime (`services/runtime/`) and the contracts name no service. `leadflow up`'s supervisor, the
migrations, the embedded NATS server, `leadflow bus secrets` and the AsyncAPI document (`services.asyncapi`)
all read `SERVICES`, handed to them by their callers (the command line, the tests' fixtures, the
benchmarks). Adding a service is one entry here.
"""

from __future__ import annotations

from contracts import subjects
from services.runtime.bus_users import BusUser, Grant, grants
from services.runtime.service_spec import ServiceSpec, Start, bus_users, migrated

# The order is the migrations' (it matters only for a fresh database's first start) and the start order
# of `leadflow up` (workers first, then the HTTP front).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "gateway",
        Start.HTTP,
        BusUser(
            "gateway",
            serves_commands=False,
            commands=("importer", "validator", "sequencer", "mailer", "inbox"),
            emits=("lead_status_changed", "leads_removed", "lead_unsubscribed"),
            durables={"gateway-lead-view": (), "gateway-lead-imports": ("lead_imported", "import_completed")},
            # SSE of an import: its progress, and its completion as it is published; the Unibox's stored
            # messages.
            listens=(
                subjects.IMPORT_PROGRESS,
                subjects.workspace_filter("import_completed"),
                subjects.UNIBOX_STORED,
            ),
            uploads=True,
        ),
    ),
    ServiceSpec(
        "sequencer",
        Start.WORKER,
        BusUser(
            "sequencer",
            emits=(
                "campaign_created",
                "campaign_updated",
                "step_due",
                "step_not_sendable",
                "leads_scheduled",
                "lead_completed",
                "sequence_stopped",
            ),
            durables={
                "sequencer-leads": ("lead_imported", "leads_validated", "lead_validated"),
                "sequencer-sends": ("email_sent", "send_uncertain"),
                "sequencer-stops": (
                    "reply_detected",
                    "email_bounced",
                    "lead_unsubscribed",
                    "lead_status_changed",
                    "leads_removed",
                    "send_failed",
                ),
                "sequencer-auto-replies": ("auto_reply_detected",),
                "sequencer-reclassified": ("inbound_reclassified",),
                "sequencer-mailboxes": ("mailbox_health_changed",),
            },
        ),
    ),
    ServiceSpec(
        "mailer",
        Start.WORKER,
        BusUser(
            "mailer",
            commands=("importer",),
            emits=(
                "email_sent",
                "email_bounced",
                "send_uncertain",
                "send_failed",
                "mailbox_health_changed",
                "mailbox_changed",
            ),
            durables={
                "mailer-step-due": ("step_due",),
                "mailer-campaigns": ("campaign_updated",),
                "mailer-stops": (
                    "reply_detected",
                    "email_bounced",
                    "lead_unsubscribed",
                    "send_failed",
                    "leads_removed",
                    "lead_status_changed",
                    "lead_validated",
                ),
                # The sequencer's stop of a company's other leads (a durable of its own: an existing
                # durable keeps the filter it was created with).
                "mailer-sequence-stops": ("sequence_stopped",),
            },
        ),
    ),
    ServiceSpec(
        "importer",
        Start.WORKER,
        BusUser(
            "importer",
            emits=("lead_imported", "import_completed"),
            durables={
                "importer-removals": ("leads_removed",),
                "importer-suppress-unsubscribed": ("lead_unsubscribed",),
                "importer-suppress-bounced": ("email_bounced",),
                "importer-unsuppress-reclassified": ("inbound_reclassified",),
            },
            announces=(subjects.IMPORT_PROGRESS,),
            uploads=True,
        ),
    ),
    ServiceSpec(
        "validator",
        Start.WORKER,
        BusUser(
            "validator",
            emits=("leads_validated",),
            durables={"validator": ("lead_imported",), "validator-removals": ("leads_removed",)},
        ),
    ),
    ServiceSpec(
        "inbox",
        Start.WORKER,
        BusUser(
            "inbox",
            # The Unibox's commands (list, read, mark read, reclassify).
            serves_commands=True,
            # The mailboxes' IMAP settings (`list_imap_logins`).
            commands=("mailer",),
            emits=("reply_detected", "auto_reply_detected", "email_bounced", "inbound_reclassified"),
            durables={"inbox-sent": ("email_sent",), "inbox-mailboxes": ("mailbox_changed",)},
            # A stored message, for the open Uniboxes (InboxMessageStored, after the batch commits).
            announces=(subjects.UNIBOX_STORED,),
        ),
    ),
)

MIGRATED_SERVICES: tuple[str, ...] = migrated(SERVICES)
BUS_USERS: tuple[BusUser, ...] = bus_users(SERVICES)


def bus_grants() -> dict[str, Grant]:
    """Every identity of Leadflow's bus (each service's and the CLI's) and what it may do."""
    return grants(BUS_USERS)
