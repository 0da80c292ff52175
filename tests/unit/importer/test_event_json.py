"""The import worker serialises each chunk's LeadImported by hand, for speed; it must equal the contract's
model, with every lead, or with only the leads the database inserted."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import ImportedLead, LeadImported, parse_event
from services.importer.chunks import chunk_event_id, stage_candidates
from services.importer.domain import Candidate

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(st.none(), TEXT)
        for name in ("first_name", "last_name", "company_name", "phone", "website", "city", "industry")
    },
)
IDS = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.emails().map(str),
            st.integers(1, 10**6),
            FIELDS,
            st.dictionaries(TEXT, TEXT, max_size=3),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 10_000),
)
def test_hand_built_batch_equals_the_model(
    leads: list[tuple[str, int, dict[str, str | None], dict[str, str], bool]], chunk: int
) -> None:
    candidates = [
        Candidate(row, email, email.lower(), fields, custom) for email, row, fields, custom, _ in leads
    ]
    keep = [kept for *_, kept in leads]
    staged, event = stage_candidates(IDS, chunk, candidates)
    assert event is not None
    # Each lead's id is the first column of its COPY line.
    ids = [uuid.UUID(line.split("\t", 1)[0]) for line in staged.decode().split("\n")[:-1]]
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == len(candidates)

    for chosen in ([True] * len(candidates), keep):
        payload = event.without(chosen)
        if not any(chosen):
            assert payload is None
            continue
        assert payload is not None
        parsed = parse_event(payload)
        expected = LeadImported(
            event_id=chunk_event_id(IDS[2], chunk),
            occurred_at=parsed.occurred_at,
            workspace_id=IDS[0],
            campaign_id=IDS[1],
            import_id=IDS[2],
            chunk=chunk,
            leads=[
                ImportedLead(lead_id=i, email=c.email, row=c.row, custom=c.custom, **c.fields)
                for c, i, k in zip(candidates, ids, chosen, strict=True)
                if k
            ],
        )
        assert parsed == expected
        assert event.event_id == expected.event_id and event.subject == expected.subject


def test_no_candidates_no_event() -> None:
    assert stage_candidates(IDS, 0, []) == (b"", None)
