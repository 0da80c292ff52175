"""Schema `importer`: imports, the leads of each campaign (identity and dedupe), rejected rows."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INT4RANGE, INT8RANGE, JSONB

from services.runtime.db import runtime_tables

SCHEMA = "importer"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

imports = Table(
    "imports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("source", Text, nullable=False, server_default="csv"),
    # csv: the upload's object store name; directory/pipeline imports have none.
    Column("object_name", Text),
    Column("filename", Text, nullable=False, server_default=""),
    Column("mapping", JSONB, nullable=False),
    # Source-specific parameters: the directory filter, the pipeline ids or filter.
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("total_rows", Integer),
    Column("cancel_requested", Boolean, nullable=False, server_default="false"),
    Column("report_object", Text),
    Column("state", Text, nullable=False, server_default="running"),
    Column("error", Text),
    Column("total_bytes", BigInteger, nullable=False, server_default="0"),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    # Checkpoint: data rows consumed and LeadImported chunks emitted, committed with each chunk.
    Column("rows_done", Integer, nullable=False, server_default="0"),
    Column("chunks_done", Integer, nullable=False, server_default="0"),
    Column("counts", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("imports_running", "state", postgresql_where="state = 'running'"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("import_id", Uuid, ForeignKey(imports.c.id), nullable=False),
    Column("email", Text, nullable=False),
    # The dedupe key: the normalised address, case-folded.
    Column("email_key", Text, nullable=False),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company_name", Text),
    Column("phone", Text),
    Column("website", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("custom", JSONB, nullable=False, server_default="{}"),
    Column("source_row", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("campaign_id", "email_key", name="leads_campaign_email_key"),
)

rejected_rows = Table(
    "rejected_rows",
    metadata,
    Column("import_id", Uuid, ForeignKey(imports.c.id, ondelete="CASCADE"), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("value", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("workspace_id", Uuid, primary_key=True),
    Column("email_key", Text, primary_key=True),
    Column("email", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # manual (API), unsubscribed (LeadUnsubscribed), bounced (hard EmailBounced)
    Column("source", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The company directory: reference data of the whole installation (a licensed database), so unlike every
# other importer table it has no workspace_id; docs/sources.md says why. `importer.fold_text` (migration
# importer_0003) lower-cases and strips accents, so free text matches case- and accent-insensitively.
directory_companies = Table(
    "directory_companies",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("country", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("size_min", Integer),
    Column("size_max", Integer),
    Column("revenue_min", BigInteger),
    Column("revenue_max", BigInteger),
    Column("company_name", Text, nullable=False),
    Column("website", Text),
    Column("email", Text),
    Column("first_name", Text),
    # Bands as ranges (a missing bound is open), so "overlaps the requested range" is one indexed `&&`.
    Column(
        "size_band",
        INT4RANGE,
        Computed(
            "CASE WHEN size_min IS NULL AND size_max IS NULL THEN NULL "
            "ELSE int4range(size_min, size_max, '[]') END",
            persisted=True,
        ),
    ),
    Column(
        "revenue_band",
        INT8RANGE,
        Computed(
            "CASE WHEN revenue_min IS NULL AND revenue_max IS NULL THEN NULL "
            "ELSE int8range(revenue_min, revenue_max, '[]') END",
            persisted=True,
        ),
    ),
    Column(
        "search",
        Text,
        Computed(
            "importer.fold_text(coalesce(company_name, '') || ' ' || coalesce(website, '') || ' ' "
            "|| coalesce(email, ''))",
            persisted=True,
        ),
    ),
    Index("directory_companies_country_city", "country", "city"),
    Index("directory_companies_city", "city"),
    Index("directory_companies_industry", "industry"),
    Index("directory_companies_size", "size_band", postgresql_using="gist"),
    Index("directory_companies_revenue", "revenue_band", postgresql_using="gist"),
)

# Leads of a workspace's CRM pipeline, to be imported into its campaigns.
pipeline_leads = Table(
    "pipeline_leads",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Creation order: pages and imports walk it, so leads added meanwhile never shift a resumed import.
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("email", Text),
    Column("email_key", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company_name", Text),
    Column("city", Text),
    Column("industry", Text),
    Column("company_size", Integer),
    Column("revenue", BigInteger),
    Column("phone", Text),
    Column("website", Text),
    Column("stage", Text),
    Column(
        "search",
        Text,
        Computed(
            "importer.fold_text(coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' "
            "|| coalesce(last_name, '') || ' ' || coalesce(company_name, '') || ' ' "
            "|| coalesce(website, ''))",
            persisted=True,
        ),
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "pipeline_leads_workspace_email",
        "workspace_id",
        "email_key",
        unique=True,
        postgresql_where=text("email_key IS NOT NULL"),
    ),
    Index("pipeline_leads_workspace_seq", "workspace_id", "seq"),
    Index("pipeline_leads_workspace_city", "workspace_id", "city"),
    Index("pipeline_leads_workspace_industry", "workspace_id", "industry"),
)
