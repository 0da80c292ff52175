"""What the projection NOTIFYs to open leads tables: every changed lead named once, in payloads PostgreSQL
accepts (under 8000 bytes), and nothing for events that change no lead."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    CampaignCreated,
    ImportCompleted,
    ImportState,
    LeadImported,
    LeadStatus,
    LeadStatusChanged,
    Verdict,
)
from contracts.events import (
    MAX_BATCH,
    ImportedLead,
    LeadsRemoved,
    LeadsScheduled,
    LeadsValidated,
    ScheduledLead,
    ValidatedLead,
)
from services.gateway.projection.notifications import NOTIFY_MAX_LEAD_IDS, lead_change_notifications

PG_NOTIFY_MAX_BYTES = 8000
WORKSPACE, CAMPAIGN, IMPORT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
lead_ids = st.lists(st.uuids(), min_size=1, max_size=MAX_BATCH)


def changed(payloads: list[str]) -> list[uuid.UUID]:
    ids = []
    for payload in payloads:
        assert len(payload.encode()) < PG_NOTIFY_MAX_BYTES
        change = json.loads(payload)
        assert change["type"] == "lead_changed"
        assert (change["workspace_id"], change["campaign_id"]) == (str(WORKSPACE), str(CAMPAIGN))
        assert change["count"] == len(change["lead_ids"]) <= NOTIFY_MAX_LEAD_IDS
        ids += [uuid.UUID(i) for i in change["lead_ids"]]
    return ids


@given(lead_ids, st.sampled_from(list(LeadStatus)))
def test_a_bulk_status_change_names_each_lead_once_in_payloads_postgres_accepts(
    ids: list[uuid.UUID], status: LeadStatus
) -> None:
    event = LeadStatusChanged(
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        lead_ids=ids,
        status=status,
        changed_by="eva",
        reason="x" * 500,
    )
    assert changed(lead_change_notifications(event)) == list(dict.fromkeys(ids))


@given(lead_ids)
def test_a_removal_names_each_removed_lead_once(ids: list[uuid.UUID]) -> None:
    event = LeadsRemoved(workspace_id=WORKSPACE, campaign_id=CAMPAIGN, lead_ids=ids, removed_by="eva")
    assert changed(lead_change_notifications(event)) == list(dict.fromkeys(ids))


@given(st.lists(st.uuids(), min_size=1, max_size=300, unique=True))
def test_a_verdict_batch_names_its_leads(ids: list[uuid.UUID]) -> None:
    event = LeadsValidated(
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        leads=[
            ValidatedLead(lead_id=i, email=f"l{n}@firma.cz", verdict=Verdict.VALID, reason="accepted", run=1)
            for n, i in enumerate(ids)
        ],
    )
    assert changed(lead_change_notifications(event)) == ids


def test_an_import_chunk_is_announced_by_count_and_its_end_by_what_it_imported() -> None:
    leads = [ImportedLead(lead_id=uuid.uuid4(), email=f"l{n}@firma.cz", row=n + 1) for n in range(1000)]
    chunk = LeadImported(workspace_id=WORKSPACE, campaign_id=CAMPAIGN, import_id=IMPORT, chunk=0, leads=leads)
    (added,) = map(json.loads, lead_change_notifications(chunk))
    assert (added["type"], added["count"], added["lead_ids"], added["import_id"]) == (
        "leads_added",
        1000,
        [],
        str(IMPORT),
    )
    done = ImportCompleted(
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        import_id=IMPORT,
        state=ImportState.COMPLETED,
        counts={"imported": 7},
    )
    (finished,) = map(json.loads, lead_change_notifications(done))
    assert (finished["type"], finished["count"], finished["import_id"]) == ("import_finished", 7, str(IMPORT))


def test_an_event_that_changes_no_lead_announces_nothing() -> None:
    assert (
        lead_change_notifications(CampaignCreated(workspace_id=WORKSPACE, campaign_id=CAMPAIGN, name="x"))
        == []
    )


@given(lead_ids)
def test_a_schedule_batch_names_each_scheduled_lead_once(ids: list[uuid.UUID]) -> None:
    event = LeadsScheduled(
        workspace_id=WORKSPACE,
        campaign_id=CAMPAIGN,
        leads=[ScheduledLead(lead_id=i, step=2, total_steps=3, due_at=None) for i in ids],
    )
    assert changed(lead_change_notifications(event)) == list(dict.fromkeys(ids))
