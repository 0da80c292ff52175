"""Schema `gateway`: workspaces, API keys, and the read models the API serves (campaigns, lead_view)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from contracts import LeadStatus
from contracts.campaign_settings import CampaignStatus
from services.gateway.domain import JobState
from services.runtime.db import runtime_tables

SCHEMA = "gateway"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, ForeignKey(workspaces.c.id, ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

# The web UI's signed-in sessions: the cookie holds a random token, this table its hash and the API key
# it was opened with (revoking the key ends its sessions; signing out deletes the row).
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("api_key_id", Uuid, ForeignKey(api_keys.c.id, ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # From the sequencer's CampaignUpdated; status_at is the event's time, so a redelivered older one
    # never takes a campaign back.
    Column("status", Text, nullable=False, server_default=CampaignStatus.DRAFT.value),
    Column("status_at", DateTime(timezone=True), nullable=True),
    Index("gateway_campaigns_workspace", "workspace_id", "created_at"),
)

lead_view = Table(
    "lead_view",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Arrival order: stable keyset paging while leads are still being added.
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("import_id", Uuid),
    Column("email", Text, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company_name", Text),
    Column("phone", Text),
    Column("website", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("custom", JSONB, nullable=False, server_default="{}"),
    Column("status", Text, nullable=False, server_default=LeadStatus.PENDING.value),
    Column("status_at", DateTime(timezone=True)),
    Column("manual_at", DateTime(timezone=True)),
    Column("manual_id", Uuid),
    # The rest of the status fold's state (contracts.LeadState, since gateway_0008): the status the events
    # other than verdicts give while a verdict makes the lead Invalid, the latest validation run, and when
    # that run found the lead invalid.
    Column("base_status", Text),
    Column("base_at", DateTime(timezone=True)),
    Column("verdict_run", Integer),
    Column("verdict_invalid_at", DateTime(timezone=True)),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("total_steps", Integer, nullable=False, server_default="0"),
    # The sequencer's LeadsScheduled (since gateway_0012): the next step and when it is due (None: waiting
    # for validation, or no next step); `next_step_as_of` is the time of the fact that set or cleared them,
    # so an older one delivered late never overwrites a newer one.
    Column("next_step", Integer),
    Column("next_step_at", DateTime(timezone=True)),
    Column("next_step_as_of", DateTime(timezone=True)),
    Column("validation", Text, nullable=False, server_default="pending"),
    Column("validation_reason", Text),
    Column("last_activity_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Substring search without pg_trgm (see services/gateway/search.py): the folded text (the LIKE recheck);
    # its 3-grams live in `lead_search`.
    Column("search", Text, nullable=False, server_default=""),
    Index("lead_view_campaign_seq", "campaign_id", "seq"),
    Index("lead_view_campaign_status", "campaign_id", "status", "seq"),
    Index("lead_view_campaign_validation", "campaign_id", "validation", "seq"),
    Index("lead_view_campaign_activity", "campaign_id", "last_activity_at", "seq"),
)

# What the list searches and sorts by that never changes after import, indexed apart from lead_view: the
# search grams and the company and email sort keys. Every status change gives a lead_view row a new
# version (status is indexed, so the update is never HOT), and that version gets an entry in EVERY index
# of lead_view: a GIN index's dozens of grams per row, and the company and email B-trees, whose entries
# land on random pages. Kept here, they are written once per lead (deleted with it), and a bulk change of
# 100,000 leads costs half as much. Sorting by company or email walks these indexes and joins lead_view
# by seq, a page's rows at a time.
lead_search = Table(
    "lead_search",
    metadata,
    Column("seq", BigInteger, ForeignKey(lead_view.c.seq, ondelete="CASCADE"), primary_key=True),
    Column("grams", ARRAY(BigInteger), nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    # What the company key is made of: keys must be recomputed when the collation changes.
    Column("company_name", Text),
    Column("email", Text, nullable=False),
    # Czech collation keys (services/runtime/collation.py) of the company and of "surname first name";
    # NULL when there is none, so such leads come last.
    Column("company_key", LargeBinary),
    Column("name_key", LargeBinary),
    Index("lead_search_grams", "grams", postgresql_using="gin"),
    Index("lead_search_campaign_company_key", "campaign_id", "company_key", "seq"),
    Index("lead_search_campaign_name_key", "campaign_id", "name_key", "seq"),
    Index("lead_search_campaign_email", "campaign_id", "email", "seq"),
)

# The collation the stored sort keys were made with: one row (services/gateway/leads/sort_keys.py).
sort_key_collation = Table(
    "sort_key_collation",
    metadata,
    Column("id", Integer, CheckConstraint("id = 1"), primary_key=True, server_default="1"),
    Column("name", Text, nullable=False),
)

# How many leads each campaign holds per (import, status, validation, validation reason): the leads list's
# total and the validation summary without a count(*) over a million rows. An append-only log of signed deltas written by statement-level triggers on
# lead_view (migration gateway_0003), so every writer keeps it exact; a campaign's count is sum(n).
lead_counts = Table(
    "lead_counts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("import_id", Uuid),
    Column("status", Text, nullable=False),
    Column("validation", Text, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("validation_reason", Text),  # since gateway_0007: the validation summary counts by reason
    Index("lead_counts_campaign", "campaign_id", "status", "validation"),
)

# The leads of finished imports still on their way to the list (since gateway_0009): how many each
# finished import imported (its ImportCompleted) ...
import_arrivals = Table(
    "import_arrivals",
    metadata,
    Column("import_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("imported", Integer, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False),
    Index("import_arrivals_campaign", "campaign_id"),
)

# ... and how many of an import's leads have been listed: one row per LeadImported listed. Append-only, so
# the two consumers that may list an import's chunks at once never wait on each other for a counter row.
import_listed = Table(
    "import_listed",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("import_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("n", Integer, nullable=False),
    Index("import_listed_campaign", "campaign_id", "import_id"),
)

# Every event that touched a lead, in order, with the service it came from: the lead's timeline.
lead_events = Table(
    "lead_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("lead_id", Uuid, nullable=False),
    Column("workspace_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False, server_default="{}"),
    # Unique exactly when (lead_id, event_id) is, as an event has one time; also the timeline's order.
    UniqueConstraint("lead_id", "occurred_at", "event_id", name="lead_events_lead_time_event"),
)

# A campaign's sending per UTC day (since gateway_0012), counted as the projection applies each event once:
# emails sent, leads that bounced (hard) or unsubscribed, leads that completed the sequence.
campaign_days = Table(
    "campaign_days",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("sent", Integer, nullable=False, server_default="0"),
    Column("bounced", Integer, nullable=False, server_default="0"),
    Column("unsubscribed", Integer, nullable=False, server_default="0"),
    Column("completed", Integer, nullable=False, server_default="0"),
)

# A campaign's emails sent per step and mailbox (since gateway_0014), counted like `campaign_days` (each
# EmailSent once): the rates' denominators. `mailbox` is the address the newest send (`mailbox_at`) named.
campaign_sends = Table(
    "campaign_sends",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("mailbox_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("mailbox", Text, nullable=False),
    Column("mailbox_at", DateTime(timezone=True), nullable=False),
    Column("sent", Integer, nullable=False, server_default="0"),
)

# What leads answered a campaign's sends with (since gateway_0014; projection/campaign_stats.py): one row
# per reply, auto-reply or bounce report (`response_id`: the inbox's stored message, else the event) with
# its kind as last decided (a person may reclassify it), and one per lead that unsubscribed (`response_id`:
# the lead). `day` is the UTC day it was first seen, `as_of` the time of the fact that set `kind`.
campaign_responses = Table(
    "campaign_responses",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("response_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("step", Integer),
    Column("mailbox_id", Uuid),
    Column("day", Date, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

# Events about leads not listed yet (since gateway_0013): their LeadImported has not been applied (consumers of
# different subjects are not ordered). Each is kept here, narrowed to the one lead it waits for, and applied as
# soon as that lead is listed (`projection.parked`), instead of being redelivered until its deliveries run out.
parked_events = Table(
    "parked_events",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False),
    Column("workspace_id", Uuid, nullable=False),
    Column("event", Text, nullable=False),  # the event's JSON, as `contracts.parse_event` reads it
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("event_id", "lead_id", name="parked_events_event_lead"),
    Index("parked_events_lead", "lead_id"),
)

# The leads unsubscribed by their link (`POST /u/{token}`), so a second click emits nothing more.
link_unsubscribes = Table(
    "link_unsubscribes",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The address of every lead removed from its campaign (kept by a DELETE trigger on lead_view, gateway_0012),
# so the unsubscribe link of a message it was sent before its removal still works.
removed_lead_addresses = Table(
    "removed_lead_addresses",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Long-running work started from the API (bulk actions over many leads), with its progress.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=JobState.RUNNING.value),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("error", Text),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("jobs_running", "state", postgresql_where=f"state = '{JobState.RUNNING.value}'"),
)
