"""Every service's migration history upgrades and downgrades cleanly, and upgrades again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.db import psycopg_conninfo


def tables(url: str) -> set[str]:
    with psycopg.connect(psycopg_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_name <> 'alembic_version'",
            (list(MIGRATED_SERVICES),),
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(fresh_database_url: Callable[[], str]) -> None:
    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    after_upgrade = tables(url)
    assert {
        "gateway.lead_view",
        "gateway.api_keys",
        "importer.leads",
        "importer.imports",
        "importer.outbox",
        "sequencer.campaigns",
        "sequencer.processed_events",
    } <= after_upgrade
    migrations.downgrade(url, MIGRATED_SERVICES)
    assert tables(url) == set()
    migrations.upgrade(url, MIGRATED_SERVICES)
    assert tables(url) == after_upgrade


def test_models_match_migrations(fresh_database_url: Callable[[], str]) -> None:
    """The SQLAlchemy tables the code uses and the tables the migrations create do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from services.gateway.tables import metadata as gateway
    from services.importer.tables import metadata as importer
    from services.inbox.tables import metadata as inbox
    from services.sequencer.tables import metadata as sequencer
    from services.validator.tables import metadata as validator

    url = fresh_database_url()
    migrations.upgrade(url, MIGRATED_SERVICES)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for metadata in (gateway, importer, inbox, sequencer, validator):
                ctx = MigrationContext.configure(
                    conn, opts={"include_schemas": True, "include_name": _only(metadata.schema)}
                )
                assert compare_metadata(ctx, metadata) == [], metadata.schema
    finally:
        engine.dispose()


def _only(schema: str | None) -> Callable[..., bool]:
    def include(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
        if type_ == "schema":
            return name == schema
        return not (type_ == "table" and name == "alembic_version")

    return include


def test_leadflow_migrate_command(fresh_database_url: Callable[[], str]) -> None:
    import os
    import subprocess
    import sys

    url = fresh_database_url()
    env = {**os.environ, "LEADFLOW_DATABASE_URL": url}
    up = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip().endswith("migrations: at head")
    assert "importer.leads" in tables(url)
    down = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate", "--downgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stderr
    assert tables(url) == set()


def test_gateway_0006_and_0007_carry_existing_leads_over(fresh_database_url: Callable[[], str]) -> None:
    """Leads projected before the two revisions keep their sort keys (0006) and their counts, now also by
    validation reason (0007), and both go back on downgrade."""
    url = fresh_database_url()
    migrations.upgrade(url, ("gateway",), "gateway_0005")
    conninfo = psycopg_conninfo(url)
    campaign = "6a0d1f9e-0000-4000-8000-000000000001"
    workspace = "6a0d1f9e-0000-4000-8000-000000000002"
    leads = [
        ("a@x.cz", "Alfa", "valid", "accepted"),
        ("b@x.cz", None, "valid", "accepted"),
        ("c@x.cz", "Beta", "invalid", "mailbox_not_found"),
        ("d@x.cz", "Beta", "pending", None),
    ]
    with psycopg.connect(conninfo) as conn:
        for email, company, validation, reason in leads:
            seq = conn.execute(
                "INSERT INTO gateway.lead_view (id, workspace_id, campaign_id, email, company_name, validation, "
                "validation_reason) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s) RETURNING seq",
                (workspace, campaign, email, company, validation, reason),
            ).fetchone()
            assert seq is not None
            conn.execute("INSERT INTO gateway.lead_search (seq, grams) VALUES (%s, '{}')", seq)

    migrations.upgrade(url, ("gateway",))
    with psycopg.connect(conninfo) as conn:
        keys = conn.execute(
            "SELECT email, company_name, campaign_id::text FROM gateway.lead_search"
        ).fetchall()
        assert sorted(keys) == [(e, c, campaign) for e, c, _, _ in leads]
        counts = conn.execute(
            "SELECT validation, validation_reason, sum(n)::int FROM gateway.lead_counts "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        assert counts == [("invalid", "mailbox_not_found", 1), ("pending", None, 1), ("valid", "accepted", 2)]
        # The triggers keep counting by reason.
        conn.execute(
            "UPDATE gateway.lead_view SET validation = 'unknown', validation_reason = 'catch_all' "
            "WHERE email = 'd@x.cz'"
        )
        by_reason = conn.execute(
            "SELECT validation_reason, sum(n)::int FROM gateway.lead_counts GROUP BY 1 HAVING sum(n) <> 0 "
            "ORDER BY 1"
        ).fetchall()
        assert by_reason == [("accepted", 2), ("catch_all", 1), ("mailbox_not_found", 1)]

    migrations.downgrade(url, ("gateway",), "gateway_0005")
    with psycopg.connect(conninfo) as conn:
        counts = conn.execute(
            "SELECT validation, sum(n)::int FROM gateway.lead_counts GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert counts == [("invalid", 1), ("unknown", 1), ("valid", 2)]
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'gateway'")
        }
        assert {"lead_view_campaign_company", "lead_view_campaign_email", "lead_events_lead_time"} <= indexes


def test_gateway_0008_lets_leads_made_invalid_by_a_verdict_before_it_come_back(
    fresh_database_url: Callable[[], str],
) -> None:
    """Leads projected before the revision get the fold's new state from their timelines: those Invalid
    because of a verdict keep the status their other events gave, so a re-run can return them to it."""
    url = fresh_database_url()
    migrations.upgrade(url, ("gateway",), "gateway_0007")
    conninfo = psycopg_conninfo(url)
    workspace, campaign = uuid.uuid4(), uuid.uuid4()
    t = [datetime(2026, 3, 1, 9, minute, tzinfo=UTC) for minute in range(6)]
    manual_id = uuid.uuid4()
    # email: (status, status_at, manual_at, validation, timeline as (event type, time, data))
    leads: dict[
        str, tuple[str, datetime, datetime | None, str, list[tuple[str, datetime, dict[str, str]]]]
    ] = {
        "poisoned@x.cz": ("invalid", t[1], None, "invalid", [("lead_imported", t[0], {})]),
        "sent@x.cz": (
            "invalid",
            t[1],
            None,
            "invalid",
            [("lead_imported", t[0], {}), ("email_sent", t[2], {}), ("email_sent", t[3], {})],
        ),
        "bounced@x.cz": (
            "invalid",
            t[1],
            None,
            "invalid",
            [("lead_imported", t[0], {}), ("email_bounced", t[4], {"kind": "hard"})],
        ),
        "after_manual@x.cz": (
            "invalid",
            t[3],
            t[2],
            "invalid",
            [
                ("lead_imported", t[0], {}),
                ("email_sent", t[1], {}),
                ("lead_status_changed", t[2], {"status": "contacted"}),
            ],
        ),
        "by_hand@x.cz": (
            "invalid",
            t[2],
            t[2],
            "valid",
            [("lead_status_changed", t[2], {"status": "invalid"})],
        ),
        "valid@x.cz": ("pending", t[0], None, "valid", [("lead_imported", t[0], {})]),
        "unverified@x.cz": ("pending", t[0], None, "pending", [("lead_imported", t[0], {})]),
    }
    ids = {email: uuid.uuid4() for email in leads}
    with psycopg.connect(conninfo) as conn:
        for email, (status, status_at, manual_at, validation, timeline) in leads.items():
            conn.execute(
                "INSERT INTO gateway.lead_view (id, workspace_id, campaign_id, email, status, status_at, "
                "manual_at, manual_id, validation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    ids[email],
                    workspace,
                    campaign,
                    email,
                    status,
                    status_at,
                    manual_at,
                    manual_id if manual_at else None,
                    validation,
                ),
            )
            for event_type, at, data in timeline:
                conn.execute(
                    "INSERT INTO gateway.lead_events (lead_id, workspace_id, event_id, event_type, source, "
                    "occurred_at, data) VALUES (%s, %s, %s, %s, 'test', %s, %s)",
                    (
                        ids[email],
                        workspace,
                        manual_id if event_type == "lead_status_changed" else uuid.uuid4(),
                        event_type,
                        at,
                        Jsonb(data),
                    ),
                )

    migrations.upgrade(url, ("gateway",))
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT email, status, base_status, base_at, verdict_run, verdict_invalid_at FROM gateway.lead_view"
        ).fetchall()
    assert {row[0]: row[1:] for row in rows} == {
        "poisoned@x.cz": ("invalid", "pending", t[0], 0, t[1]),
        "sent@x.cz": ("invalid", "contacted", t[3], 0, t[1]),
        "bounced@x.cz": ("invalid", "bounced", t[4], 0, t[1]),
        "after_manual@x.cz": ("invalid", "contacted", t[2], 0, t[3]),  # the send before it is hidden
        "by_hand@x.cz": ("invalid", None, None, 0, None),
        "valid@x.cz": ("pending", None, None, 0, None),
        "unverified@x.cz": ("pending", None, None, None, None),
    }

    migrations.downgrade(url, ("gateway",), "gateway_0007")
    migrations.upgrade(url, ("gateway",))


def test_gateway_0010_makes_existing_leads_findable_by_city_and_sortable_in_czech(
    fresh_database_url: Callable[[], str],
) -> None:
    """Leads projected before the revision get the city in their search text and grams, and Czech sort
    keys for company and name; a downgrade takes the city out again."""
    from services.gateway.search import grams

    url = fresh_database_url()
    migrations.upgrade(url, ("gateway",), "gateway_0009")
    conninfo = psycopg_conninfo(url)
    campaign = "6a0d1f9e-0000-4000-8000-000000000003"
    leads = [
        ("k@x.cz", "Kateřina", "Černá", "Zeman a.s.", "Brno"),
        ("c@x.cz", "Cyril", "Cibulka", "Chata s.r.o.", None),
        ("h@x.cz", None, None, "Hora", "Plzeň"),
    ]
    with psycopg.connect(conninfo) as conn:
        for email, first, last, company, city in leads:
            seq = conn.execute(
                "INSERT INTO gateway.lead_view (id, workspace_id, campaign_id, email, first_name, last_name, "
                "company_name, city, search) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s, %s, '') "
                "RETURNING seq",
                (campaign, campaign, email, first, last, company, city),
            ).fetchone()
            assert seq is not None
            conn.execute(
                "INSERT INTO gateway.lead_search (seq, grams, campaign_id, company_name, email) "
                "VALUES (%s, '{}', %s, %s, %s)",
                (seq[0], campaign, company, email),
            )

    migrations.upgrade(url, ("gateway",))
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT v.email, v.search, s.grams FROM gateway.lead_view v JOIN gateway.lead_search s USING (seq)"
        ).fetchall()
        found = {email: (search, set(g)) for email, search, g in rows}
        assert found["k@x.cz"][0] == "k@x.cz katerina cerna zeman a.s. brno"
        assert set(grams("brno")) <= found["k@x.cz"][1]
        assert found["h@x.cz"][0] == "h@x.cz hora plzen"
        by_company = conn.execute(
            "SELECT company_name FROM gateway.lead_search ORDER BY company_key NULLS LAST, seq"
        ).fetchall()
        assert [r[0] for r in by_company] == ["Hora", "Chata s.r.o.", "Zeman a.s."]  # ch after h
        by_name = conn.execute(
            "SELECT email FROM gateway.lead_search ORDER BY name_key NULLS LAST, seq"
        ).fetchall()
        assert [r[0] for r in by_name] == ["c@x.cz", "k@x.cz", "h@x.cz"]  # Cibulka, Černá, no name last

    migrations.downgrade(url, ("gateway",), "gateway_0009")
    with psycopg.connect(conninfo) as conn:
        search = conn.execute("SELECT search FROM gateway.lead_view WHERE email = 'h@x.cz'").fetchone()
        assert search == ("h@x.cz hora",)


def test_gateway_0014_counts_the_sends_and_answers_already_in_the_timelines(
    fresh_database_url: Callable[[], str],
) -> None:
    """A campaign's history before the revision is in its leads' timelines: its sends per step and mailbox
    and its answers are filled from them as the projection records them live, a removed lead's included."""
    from contracts import (
        AutoReplyDetected,
        EmailBounced,
        EmailSent,
        InboundReclassified,
        LeadEvent,
        LeadUnsubscribed,
        ReplyDetected,
    )
    from services.gateway.projection.timeline import timeline_details, timeline_source

    url = fresh_database_url()
    migrations.upgrade(url, ("gateway",), "gateway_0013")
    conninfo = psycopg_conninfo(url)
    workspace, campaign, listed, removed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    m1, m2, message = uuid.UUID(int=1), uuid.UUID(int=2), uuid.uuid4()
    t = [datetime(2026, 3, 1, 23, 0, tzinfo=UTC) + timedelta(minutes=40 * n) for n in range(6)]

    def ids(lead: uuid.UUID) -> dict[str, uuid.UUID]:
        return {"workspace_id": workspace, "campaign_id": campaign, "lead_id": lead}

    def sent(lead: uuid.UUID, step: int, mailbox: uuid.UUID, address: str, at: datetime) -> EmailSent:
        return EmailSent(
            **ids(lead),
            occurred_at=at,
            step=step,
            total_steps=2,
            message_id=f"<{at}>",
            mailbox=address,
            mailbox_id=mailbox,
        )

    inbound: dict[str, object] = {
        "message_id": "<r@x>",
        "from_address": "a@x.cz",
        "inbox_message_id": message,
    }
    smtp_bounce = EmailBounced(
        **ids(removed),
        occurred_at=t[1],
        source="smtp",
        kind="hard",
        smtp_code=550,
        email="b@x.cz",
        step=1,
        mailbox_id=m2,
    )
    timeline: list[LeadEvent] = [
        sent(listed, 1, m1, "old@x.cz", t[0]),
        sent(listed, 2, m1, "new@x.cz", t[2]),
        sent(removed, 1, m2, "b2@x.cz", t[0]),
        # A reply (22:40 UTC, Mar 1) a person later found automatic: the reclassification and its new event.
        ReplyDetected(
            **ids(listed), occurred_at=t[1] - timedelta(minutes=20), step=1, mailbox_id=m1, **inbound
        ),
        InboundReclassified(
            **ids(listed),
            occurred_at=t[4],
            inbox_message_id=message,
            from_kind="reply",
            to_kind="auto_reply",
            by="eva",
        ),
        AutoReplyDetected(**ids(listed), occurred_at=t[4], step=1, mailbox_id=m1, **inbound),
        smtp_bounce,
        LeadUnsubscribed(**ids(removed), occurred_at=t[3], email="b@x.cz", source="link"),
        LeadUnsubscribed(**ids(removed), occurred_at=t[5], email="b@x.cz", source="one_click"),
    ]
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO gateway.lead_view (id, workspace_id, campaign_id, email) VALUES (%s, %s, %s, 'a@x.cz')",
            (listed, workspace, campaign),
        )
        conn.execute(
            "INSERT INTO gateway.removed_lead_addresses (lead_id, workspace_id, campaign_id, email) "
            "VALUES (%s, %s, %s, 'b@x.cz')",
            (removed, workspace, campaign),
        )
        for event in timeline:
            conn.execute(
                "INSERT INTO gateway.lead_events (lead_id, workspace_id, event_id, event_type, source, occurred_at, "
                "data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    event.lead_id,
                    workspace,
                    event.event_id,
                    event.event_type,
                    timeline_source(event),
                    event.occurred_at,
                    Jsonb(timeline_details(event)),
                ),
            )
        # A timeline entry of an unknown lead's send with nothing in it (as older tests wrote) is left out.
        conn.execute(
            "INSERT INTO gateway.lead_events (lead_id, workspace_id, event_id, event_type, source, occurred_at) "
            "VALUES (gen_random_uuid(), %s, gen_random_uuid(), 'email_sent', 'mailer', now())",
            (workspace,),
        )

    migrations.upgrade(url, ("gateway",))
    with psycopg.connect(conninfo) as conn:
        sends = conn.execute(
            "SELECT campaign_id, step, mailbox_id, mailbox, mailbox_at, sent FROM gateway.campaign_sends "
            "ORDER BY step, mailbox_id"
        ).fetchall()
        answers = conn.execute(
            "SELECT campaign_id, response_id, lead_id, kind, step, mailbox_id, day, as_of "
            "FROM gateway.campaign_responses ORDER BY kind"
        ).fetchall()
    assert sends == [
        (campaign, 1, m1, "old@x.cz", t[0], 1),
        (campaign, 1, m2, "b2@x.cz", t[0], 1),
        (campaign, 2, m1, "new@x.cz", t[2], 1),
    ]
    mar_1, mar_2 = datetime(2026, 3, 1).date(), datetime(2026, 3, 2).date()
    assert answers == [
        (campaign, message, listed, "auto_reply", 1, m1, mar_1, t[4]),  # the newer kind, the first day
        (campaign, smtp_bounce.event_id, removed, "hard_bounce", 1, m2, mar_1, t[1]),  # no inbox message
        (campaign, removed, removed, "unsubscribe", None, None, mar_2, t[5]),  # once per lead
    ]

    migrations.downgrade(url, ("gateway",), "gateway_0013")
    assert "gateway.campaign_responses" not in tables(url)
    migrations.upgrade(url, ("gateway",))


def test_inbox_0002_gives_sends_indexed_before_it_their_conversation(
    fresh_database_url: Callable[[], str],
) -> None:
    """A follow-up sent after the revision carries its step 1's conversation in its Thread-Index: a step 1
    indexed before it gets the same (PostgreSQL's MD5 of the Message-ID), so replies to it link."""
    from services.runtime.thread_index import conversation_for

    url = fresh_database_url()
    migrations.upgrade(url, ("inbox",), "inbox_0001")
    conninfo = psycopg_conninfo(url)
    ids = ["<6f1c5b0e-6a43-4d0a-9a0c-0c6b9a5e0e01@firma.cz>", "<step-1.ana@leadflow.example>"]
    with psycopg.connect(conninfo) as conn:
        for message_id in ids:
            conn.execute(
                "INSERT INTO inbox.sent (message_id, workspace_id, campaign_id, lead_id, step, mailbox_id, "
                "sent_at) VALUES (%s, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 1, "
                "gen_random_uuid(), now())",
                (message_id,),
            )

    migrations.upgrade(url, ("inbox",))
    with psycopg.connect(conninfo) as conn:
        found: dict[str, uuid.UUID] = dict(
            conn.execute("SELECT message_id, conversation FROM inbox.sent").fetchall()
        )
    assert found == {message_id: conversation_for(message_id) for message_id in ids}

    migrations.downgrade(url, ("inbox",), "inbox_0001")
    with psycopg.connect(conninfo) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'inbox' "
            "AND table_name = 'sent' AND column_name = 'conversation'"
        ).fetchall()
    assert columns == []
    migrations.upgrade(url, ("inbox",))
