"""Schema `inbox`: the mailboxes it reads (their IMAP settings as the mailer has them, where reading stands,
and which replica holds each), the index of what was sent (from EmailSent, to link what comes back), and
every message read, raw, with its decision."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

from services.runtime.db import runtime_tables

SCHEMA = "inbox"
metadata = MetaData(schema=SCHEMA)
outbox, processed_events = runtime_tables(metadata)

# One row per mailbox with IMAP settings (the mailer's `list_imap_logins`; the password as the mailer
# stores it, encrypted under the shared secret key). `uidvalidity`/`last_uid` say where reading stands;
# `lease_owner`/`lease_until` which replica reads it (one at a time).
mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("email", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("username", Text, nullable=False),
    Column("password_encrypted", Text, nullable=False),
    Column("security", Text, nullable=False),
    Column("settings_updated_at", DateTime(timezone=True), nullable=False),
    Column("uidvalidity", BigInteger),
    Column("last_uid", BigInteger, nullable=False, server_default="0"),
    Column("lease_owner", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("error", Text),
    Column("read_at", DateTime(timezone=True)),
)

# What the mailer sent (EmailSent), by its Message-ID: what a reply's thread headers or a bounce's
# original name. By conversation, the GUID the send's own Message-ID gives its Thread-Index
# (services/runtime/thread_index.py): a follow-up carries its step 1's, so a reply's Thread-Index finds the
# thread's first send. By recipient too, for a reply that names nothing (the lead's last send).
sent = Table(
    "sent",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("campaign_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False),
    Column("step", Integer, nullable=False),
    Column("mailbox_id", Uuid, nullable=False),
    Column("recipient", Text),
    Column("subject", Text, nullable=False, server_default=""),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("conversation", Uuid),
    Index("ix_inbox_sent_recipient", "workspace_id", "recipient", text("sent_at DESC")),
    Index("ix_inbox_sent_conversation", "workspace_id", "conversation"),
)

# Every message read, once per (mailbox, Message-ID): the raw bytes, the decision with the rule that made
# it (and the first decision when a person overturned it), and what it was linked to.
messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("mailbox_id", Uuid, nullable=False),
    Column("message_key", Text, nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("message_id", Text),
    Column("from_address", Text),
    Column("subject", Text, nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    Column("kind", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("classified_kind", Text, nullable=False),
    Column("classified_rule", Text, nullable=False),
    Column("status_code", Text),
    Column("smtp_code", Integer),
    Column("diagnostic", Text, nullable=False, server_default=""),
    Column("bounced_recipient", Text),
    Column("return_date", Date),
    Column("in_reply_to", Text),
    Column("lead_id", Uuid),
    Column("campaign_id", Uuid),
    Column("step", Integer),
    Column("linked_by", Text),
    Column("read", Boolean, nullable=False, server_default="false"),
    Column("reclassified_by", Text),
    Column("reclassified_at", DateTime(timezone=True)),
    UniqueConstraint("mailbox_id", "message_key", name="uq_inbox_messages_mailbox_key"),
    Index("ix_inbox_messages_workspace", "workspace_id", text("received_at DESC"), text("id DESC")),
    Index("ix_inbox_messages_lead", "lead_id"),
)
