"""Pipeline filters → SQL (always scoped to a workspace), labels and lead items, without a database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.commands import PipelineFilter, PipelineLeadIn
from services.importer.domain import ImportInputError
from services.importer.pipeline import domain as pipeline_domain
from services.importer.pipeline import queries as pipeline

WORKSPACE = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


FOLDED_CITY = "importer.fold_text(city) = ANY(ARRAY[importer.fold_text(%s::text)])"


@pytest.mark.parametrize(
    ("criteria", "sql", "params"),
    [
        ({}, "workspace_id = %s", [WORKSPACE]),
        (
            {"city": "Brno", "stage": ["new", "won"]},
            "workspace_id = %s AND " + FOLDED_CITY + ' AND "stage" = ANY(%s)',
            [WORKSPACE, "Brno", ["new", "won"]],
        ),
        (
            {"size_min": 10, "revenue_max": 5},
            'workspace_id = %s AND "company_size" >= %s AND "revenue" <= %s',
            [WORKSPACE, 10, 5],
        ),
        (
            {"q": "kralova"},
            "workspace_id = %s AND search LIKE importer.fold_text(%s)",
            [WORKSPACE, "%kralova%"],
        ),
    ],
)
def test_pipeline_filter_sql_is_always_scoped_to_the_workspace(
    criteria: dict[str, Any], sql: str, params: list[Any]
) -> None:
    where, values = pipeline.where_clause(WORKSPACE, PipelineFilter.model_validate(criteria))
    assert (where.as_string(None), values) == (sql, params)


def test_pipeline_import_query_from_ids_or_filter() -> None:
    lead = uuid.uuid4()
    by_ids, params = pipeline.import_query(WORKSPACE, {"ids": [str(lead)]})
    assert "workspace_id = %s AND id = ANY(%s)" in by_ids.as_string(None)
    assert params == [WORKSPACE, [lead]]
    by_filter, params = pipeline.import_query(WORKSPACE, {"filter": {"city": "Brno"}})
    assert by_filter.as_string(None).endswith("WHERE workspace_id = %s AND " + FOLDED_CITY)
    assert params == [WORKSPACE, "Brno"]
    for broken in ({"ids": ["not-a-uuid"]}, {"filter": {"size_min": -1}}):
        with pytest.raises(ImportInputError, match="not valid"):
            pipeline.import_query(WORKSPACE, broken)


def test_pipeline_labels() -> None:
    assert pipeline_domain.pipeline_label([uuid.uuid4()], None) == "Pipeline: 1 selected lead"
    assert pipeline_domain.pipeline_label([uuid.uuid4()] * 1200, None) == "Pipeline: 1,200 selected leads"
    assert (
        pipeline_domain.pipeline_label(None, PipelineFilter(city=["Brno"], stage=["new"]))
        == "Pipeline: Brno, new"
    )
    assert pipeline_domain.pipeline_label(None, PipelineFilter()) == "Pipeline: all leads"


def test_prepared_leads_report_bad_items_and_let_a_later_address_win() -> None:
    items = [
        PipelineLeadIn(email="Jana@Firma.cz", company_size=10),
        PipelineLeadIn(email="no-at-sign"),
        PipelineLeadIn(),
        PipelineLeadIn(first_name="Petr"),
        PipelineLeadIn(email="mailto:jana@FIRMA.CZ", company_size=20),
    ]
    prepared = pipeline_domain.PreparedLeads(WORKSPACE, list(enumerate(items)))
    assert [(e.index, e.error.split(":")[0]) for e in prepared.errors] == [
        (1, "email 'no-at-sign' is not an email address"),
        (2, "a lead needs an email, a name or a company name"),
    ]
    jana = prepared.rows["jana@firma.cz"]
    assert (jana["email"], jana["company_size"], jana["workspace_id"]) == ("jana@firma.cz", 20, WORKSPACE)
    assert prepared.indexes["jana@firma.cz"] == [0, 4]
    [petr_slot] = [slot for slot, indexes in prepared.indexes.items() if indexes == [3]]
    assert prepared.rows[petr_slot]["email_key"] is None and str(prepared.rows[petr_slot]["id"]) == petr_slot


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"company_size": "many"}, "valid integer"),
        ({"revenue": 1.5}, "fractional part"),
        ({"stage": "x" * 51}, "at most 50 characters"),
        ({"email": "a@b.cz", "notes": "hi"}, "Extra inputs are not permitted"),
    ],
)
def test_pipeline_lead_items_are_checked(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PipelineLeadIn.model_validate(item)


def test_blank_pipeline_fields_are_nothing() -> None:
    lead = PipelineLeadIn.model_validate({"email": "  a@b.cz ", "city": "   ", "stage": ""})
    assert (lead.email, lead.city, lead.stage) == ("a@b.cz", None, None)


def _ids() -> Callable[[], uuid.UUID]:
    numbers = iter(range(1, 1000))
    return lambda: uuid.UUID(int=next(numbers))


@pytest.mark.parametrize(
    ("items", "upserted", "expected"),
    [
        # one new lead reported for each of its items, created only for the first
        (
            [PipelineLeadIn(email="a@b.cz"), PipelineLeadIn(email="A@B.cz")],
            [(uuid.UUID(int=7), "a@b.cz", True)],
            [(0, 7, True), (1, 7, False)],
        ),
        # an address that was there: updated, not created
        ([PipelineLeadIn(email="a@b.cz")], [(uuid.UUID(int=7), "a@b.cz", False)], [(0, 7, False)]),
        # a lead without an address is found by the id it was given (the second new id here: the
        # first went to the address's row); items come back in item order
        (
            [PipelineLeadIn(email="z@b.cz"), PipelineLeadIn(first_name="Petr")],
            [(uuid.UUID(int=2), None, True), (uuid.UUID(int=9), "z@b.cz", True)],
            [(0, 9, True), (1, 2, True)],
        ),
        ([], [], []),
    ],
)
def test_what_each_item_came_to(
    items: list[PipelineLeadIn], upserted: list[tuple[uuid.UUID, str | None, bool]], expected: list[Any]
) -> None:
    prepared = pipeline_domain.PreparedLeads(WORKSPACE, list(enumerate(items)), new_id=_ids())
    stored = prepared.stored(upserted)
    assert [(s.index, s.id.int, s.created) for s in stored] == expected


LEAD = uuid.UUID(int=5)


@pytest.mark.parametrize(
    ("ids", "f", "params"),
    [
        ([LEAD], None, {"ids": [str(LEAD)]}),
        ([], PipelineFilter(city=["Brno"]), {"ids": []}),  # ids win over a filter
        (None, None, {"filter": PipelineFilter().model_dump(mode="json")}),
        (
            None,
            PipelineFilter(stage=["new"]),
            {"filter": PipelineFilter(stage=["new"]).model_dump(mode="json")},
        ),
    ],
)
def test_an_import_stores_its_selection_and_reads_it_back(
    ids: list[uuid.UUID] | None, f: PipelineFilter | None, params: dict[str, Any]
) -> None:
    assert pipeline_domain.import_params(ids, f) == params
    expected = ids if ids is not None else (f or PipelineFilter())
    assert pipeline_domain.selection_of(params) == expected


@pytest.mark.parametrize(
    "params", [{"ids": ["not-a-uuid"]}, {"ids": 5}, {"filter": {"size_min": "many"}}, {"filter": []}]
)
def test_a_stored_selection_that_is_not_valid_is_an_input_error(params: dict[str, Any]) -> None:
    with pytest.raises(ImportInputError, match="pipeline selection of this import is not valid"):
        pipeline_domain.selection_of(params)
