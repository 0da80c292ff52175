"""The importer serialises LeadImported batches by hand, for speed; they must equal the contract's model."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import ImportedLead, LeadImported, parse_event
from services.importer.domain import Candidate
from services.importer.runner import chunk_event_id, lead_imported
from services.importer.worker import lead_fragment, splice_lead_id

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(st.none(), TEXT)
        for name in ("first_name", "last_name", "company_name", "phone", "website", "city", "industry")
    },
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.emails().map(str), st.integers(1, 10**6), FIELDS, st.dictionaries(TEXT, TEXT, max_size=3)
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 10_000),
)
def test_hand_built_batch_equals_the_model(
    leads: list[tuple[str, int, dict[str, str | None], dict[str, str]]], chunk: int
) -> None:
    job = SimpleNamespace(id=uuid.uuid4(), workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4())
    candidates = [
        Candidate(row, email, email.lower(), fields, custom) for email, row, fields, custom in leads
    ]
    ids = [uuid.uuid4() for _ in candidates]
    batch = [splice_lead_id(lead_fragment(c), i) for c, i in zip(candidates, ids, strict=True)]
    prepared = lead_imported(job, chunk, batch)

    parsed = parse_event(prepared.payload)
    expected = LeadImported(
        event_id=chunk_event_id(job.id, chunk),
        occurred_at=parsed.occurred_at,
        workspace_id=job.workspace_id,
        campaign_id=job.campaign_id,
        import_id=job.id,
        chunk=chunk,
        leads=[
            ImportedLead(lead_id=i, email=c.email, row=c.row, custom=c.custom, **c.fields)
            for c, i in zip(candidates, ids, strict=True)
        ],
    )
    assert parsed == expected
    assert prepared.event_id == expected.event_id and prepared.subject == expected.subject
