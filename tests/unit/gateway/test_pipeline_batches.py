"""Pipeline leads sent to the importer in batches that each fit a NATS message: all of them, in order,
none twice, no batch over the limit unless one lead alone is."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from contracts.commands import PipelineLeadIn, PipelineLeadItem
from services.gateway.sources.batches import batches

names = st.text(st.characters(categories=["L", "N", "Zs"]), max_size=60).map(str.strip).filter(bool)
leads = st.builds(
    PipelineLeadIn, email=st.none() | st.emails(), first_name=st.none() | names, company_name=names
)


def wire_size(item: PipelineLeadItem) -> int:
    return len(json.dumps(item.model_dump(mode="json"))) + 2


@given(st.lists(leads, max_size=40), st.integers(min_value=1, max_value=2_000))
def test_every_lead_goes_once_in_order_and_batches_fit(people: list[PipelineLeadIn], max_bytes: int) -> None:
    items = [PipelineLeadItem(index=i, lead=lead) for i, lead in enumerate(people)]
    sent = list(batches(items, max_bytes))
    assert [item for batch in sent for item in batch] == items
    for batch in sent:
        assert batch
        assert sum(map(wire_size, batch)) <= max_bytes or len(batch) == 1
    # Greedy: a batch is closed only when the next lead would not fit in it.
    for batch, following in itertools.pairwise(sent):
        assert sum(map(wire_size, batch)) + wire_size(following[0]) > max_bytes
