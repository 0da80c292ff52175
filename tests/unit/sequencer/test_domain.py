"""The sequencer's campaign decision: created once, repeated as it was, refused across workspaces."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import CampaignCreated
from contracts.campaign_settings import CampaignStatus
from contracts.commands import CreateCampaign
from services.sequencer.domain import Campaign, CampaignIdTaken, Decision, decide

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)
OURS, THEIRS = uuid.uuid4(), uuid.uuid4()
CAMPAIGN_ID = uuid.uuid4()


def command(workspace_id: uuid.UUID = OURS, name: str = "Spring") -> CreateCampaign:
    return CreateCampaign(workspace_id=workspace_id, campaign_id=CAMPAIGN_ID, name=name)


def stored(workspace_id: uuid.UUID, name: str = "Spring") -> Campaign:
    return Campaign(CAMPAIGN_ID, workspace_id, name, CampaignStatus.DRAFT, EARLIER)


@pytest.mark.parametrize(
    ("existing", "cmd", "stores", "emits", "answer"),
    [
        pytest.param(
            None,
            command(),
            True,
            True,
            Campaign(CAMPAIGN_ID, OURS, "Spring", CampaignStatus.DRAFT, NOW),
            id="a new id creates a draft, now",
        ),
        pytest.param(stored(OURS), command(), False, False, stored(OURS), id="a repeat answers as created"),
        pytest.param(
            stored(OURS, "Spring"),
            command(name="Autumn"),
            False,
            False,
            stored(OURS, "Spring"),
            id="a repeat under another name keeps the first name",
        ),
        pytest.param(stored(THEIRS), command(), False, False, None, id="another workspace's id is refused"),
    ],
)
def test_decide(
    existing: Campaign | None, cmd: CreateCampaign, stores: bool, emits: bool, answer: Campaign | None
) -> None:
    outcome = decide(existing, cmd, NOW)
    if answer is None:
        assert outcome == CampaignIdTaken(CAMPAIGN_ID)
        return
    assert isinstance(outcome, Decision)
    assert outcome.campaign == answer
    assert (outcome.to_store == answer) if stores else outcome.to_store is None
    if emits:
        (event,) = outcome.events
        assert isinstance(event, CampaignCreated)
        assert (event.workspace_id, event.campaign_id, event.name, event.occurred_at) == (
            OURS,
            CAMPAIGN_ID,
            "Spring",
            NOW,
        )
    else:
        assert outcome.events == ()


workspaces = st.sampled_from([OURS, THEIRS, uuid.uuid4()])
names = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=40).filter(str.strip)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@given(st.lists(st.tuples(workspaces, names), min_size=1, max_size=8), moments)
def test_whatever_the_commands_one_campaign_is_created_and_one_event_emitted(
    commands: list[tuple[uuid.UUID, str]], now: datetime
) -> None:
    """Applied in order as the handler does (store what the decision says to store), the first command
    creates the campaign; every later one answers with it unchanged or, from another workspace, is
    refused; only the first emits."""
    existing: Campaign | None = None
    events: list[CampaignCreated] = []
    for workspace_id, name in commands:
        outcome = decide(existing, command(workspace_id, name), now)
        if isinstance(outcome, CampaignIdTaken):
            assert existing is not None and existing.workspace_id != workspace_id
            continue
        if outcome.to_store is not None:
            assert existing is None
            existing = outcome.to_store
        assert outcome.campaign == existing
        events.extend(outcome.events)
    first_workspace, first_name = commands[0]
    assert existing == Campaign(CAMPAIGN_ID, first_workspace, first_name, CampaignStatus.DRAFT, now)
    assert [(e.workspace_id, e.name) for e in events] == [(first_workspace, first_name)]
