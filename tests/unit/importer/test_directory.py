"""Directory and pipeline logic without a database: the sample, the file format, filters → SQL, labels."""

from __future__ import annotations

import codecs
import io
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.commands import DirectoryFilter, PipelineFilter, PipelineLeadIn
from services.importer import directory, pipeline
from services.importer.directory import (
    CSV_COLUMNS,
    DirectoryFileError,
    DirectoryRow,
    decode_position_cursor,
    directory_label,
    encode_position_cursor,
    like_pattern,
    parse_row,
    read_directory_csv,
    sample_rows,
    where_clause,
    write_directory_csv,
)
from services.importer.domain import ImportInputError

PROPS = settings(max_examples=100, deadline=None)
WORKSPACE = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
HEADER = ",".join(CSV_COLUMNS)


def csv_bytes(rows: list[DirectoryRow]) -> bytes:
    out = io.StringIO()
    write_directory_csv(rows, out)
    return out.getvalue().encode()


def parsed(data: bytes) -> list[tuple[int, DirectoryRow | str]]:
    return list(read_directory_csv(io.BytesIO(data)))


def row(**values: str) -> dict[str, str]:
    return {name: "" for name in CSV_COLUMNS} | {"company_name": "Firma s.r.o."} | values


# --- the sample ------------------------------------------------------------------------------------------


def test_sample_is_deterministic_for_a_seed() -> None:
    assert list(sample_rows(300, seed=5)) == list(sample_rows(300, seed=5))
    assert list(sample_rows(300, seed=5)) != list(sample_rows(300, seed=6))
    # A longer sample of the same seed starts with the shorter one.
    assert list(sample_rows(500, seed=5))[:300] == list(sample_rows(300, seed=5))


COUNTRY_TLDS = {"CZ": "cz", "SK": "sk", "PL": "pl", "AT": "at", "HU": "hu", "DE": "de"}
LEGAL_FORMS = ("s.r.o.", "spol. s r.o.", "a.s.", "v.o.s.", "k.s.", "Sp. z o.o.", "S.A.", "sp.j.", "sp.k.", "GmbH", "OG", "KG", "AG", "UG", "Kft.", "Zrt.", "Bt.", "Nyrt.")  # fmt: skip


@PROPS
@given(seed=st.integers(min_value=0, max_value=2**32), count=st.integers(min_value=1, max_value=60))
def test_sample_rows_are_well_formed(seed: int, count: int) -> None:
    rows = list(sample_rows(count, seed))
    assert len(rows) == count
    for company in rows:
        assert (
            parse_row(
                {k: "" if v is None else str(v) for k, v in zip(CSV_COLUMNS, company.values(), strict=True)}
            )
            == company
        )
        assert company.country in COUNTRY_TLDS
        assert company.company_name.endswith(LEGAL_FORMS)
        assert company.website is not None and company.website.startswith("www.")
        domain = company.website.removeprefix("www.")
        assert domain.endswith("." + COUNTRY_TLDS[company.country])
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z]{2}", domain), domain
        if company.email is not None:
            assert company.email.endswith("@" + domain)
        assert company.size_min is not None and (
            company.size_max is None or company.size_min <= company.size_max
        )
        if company.revenue_min is not None:
            assert company.revenue_max is None or company.revenue_min < company.revenue_max
    emails = [c.email for c in rows if c.email]
    assert len(emails) == len(set(emails))


def test_sample_looks_like_central_europe() -> None:
    rows = list(sample_rows(3000, seed=1))
    assert {c.country for c in rows} == set(COUNTRY_TLDS)
    assert {"Praha", "Bratislava", "Warszawa", "Wien", "Budapest", "Łódź", "České Budějovice"} <= {
        c.city for c in rows
    }
    assert any(re.fullmatch(r"Novák \w+ s\.r\.o\.", c.company_name) for c in rows)
    assert any(c.company_name.endswith("Sp. z o.o.") and "ł" in c.company_name.lower() for c in rows)
    assert 0.01 < sum(c.email is None for c in rows) / len(rows) < 0.06  # a few companies have no address
    assert any(c.size_max is None for c in rows)  # the open-ended 1000+ band
    assert len({c.industry for c in rows}) >= 10


def test_german_domains_spell_umlauts_out() -> None:
    rows = [
        c
        for c in sample_rows(2000, seed=3)
        if c.company_name.startswith("Müller ") and c.country in ("AT", "DE")
    ]
    assert rows and all(c.website and "mueller" in c.website for c in rows)


# --- the file format -------------------------------------------------------------------------------------


def test_written_sample_reads_back_unchanged_with_line_numbers() -> None:
    rows = list(sample_rows(200, seed=9))
    back = parsed(csv_bytes(rows))
    assert [line for line, _ in back] == list(range(2, 202))
    assert [r for _, r in back] == rows


def test_columns_in_any_order_semicolons_cp1250_and_bom_load() -> None:
    columns = list(reversed(CSV_COLUMNS))
    values = {name: "" for name in CSV_COLUMNS} | {"company_name": "Dvořák Stavby s.r.o.", "city": "Plzeň", "size_min": "10", "size_max": "49"}  # fmt: skip
    text = ";".join(columns) + "\r\n" + ";".join(values[c] for c in columns) + "\r\n"
    for data in (text.encode("cp1250"), codecs.BOM_UTF8 + text.encode()):
        [(line, company)] = parsed(data)
        assert line == 2
        assert isinstance(company, DirectoryRow)
        assert (company.company_name, company.city, company.size_min, company.size_max) == ("Dvořák Stavby s.r.o.", "Plzeň", 10, 49)  # fmt: skip


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(HEADER.replace(",email", ""), "missing column(s): email", id="missing"),
        pytest.param(HEADER + ",phone", "unknown column(s): 'phone'", id="unknown"),
        pytest.param(HEADER.replace("first_name", "email"), "column(s) named twice: email", id="twice"),
        pytest.param("Firma;E-mail", "missing column(s): country, city", id="another-format"),
    ],
)
def test_a_file_with_the_wrong_columns_loads_nothing(header: str, message: str) -> None:
    with pytest.raises(DirectoryFileError, match=re.escape(message)):
        read_directory_csv(io.BytesIO((header + "\n").encode() if header else b""))


def test_bad_rows_are_reported_with_their_first_line_and_reason() -> None:
    data = (
        f"{HEADER}\n"
        "CZ,Praha,IT,10,5,,,Obrácená s.r.o.,,,\n"
        "\n"
        'CZ,Praha,IT,,,,,"Dva\nřádky s.r.o.",,not-an-address,\n'
        "CZ,Praha,IT,1,9\n"
        "CZ,Brno,IT,1,9,0,199999,Dobrá s.r.o.,www.dobra.cz,Jan@Dobra.CZ,Jan\n"
    ).encode()
    results = parsed(data)
    assert [line for line, _ in results] == [2, 4, 6, 7]
    assert results[0][1] == "size_min (10) is greater than size_max (5)"
    assert isinstance(results[1][1], str) and results[1][1].startswith(
        "email 'not-an-address' is not an email address"
    )
    assert results[2][1] == "the row has 5 fields, the header has 11"
    good = results[3][1]
    assert isinstance(good, DirectoryRow) and good.email == "Jan@dobra.cz"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (row(company_name=""), "company_name is empty"),
        (row(company_name="   "), "company_name is empty"),
        (row(size_min="ten"), "size_min 'ten' is not a whole number"),
        (row(size_max="-1"), "size_max '-1' is not a whole number"),
        (row(revenue_min="1.5"), "revenue_min '1.5' is not a whole number"),
        (row(size_min="٣"), "size_min '٣' is not a whole number"),
        (row(size_max="20000000"), "size_max 20000000 is larger than 10,000,000"),
        (row(revenue_min="9", revenue_max="1"), "revenue_min (9) is greater than revenue_max (1)"),
        (row(email="petr@"), "email 'petr@' is not an email address"),
        (row(city="x" * 101), "city is 101 characters long; at most 100 are allowed"),
        (row(website="www.a\x00b.cz"), "website contains the NUL character (\\u0000) at position 5"),
    ],
)
def test_parse_row_refuses_bad_values_with_a_reason(values: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_row(values)


def test_parse_row_trims_and_turns_blanks_into_nothing() -> None:
    company = parse_row(
        row(country=" CZ ", city="", size_min=" 250 ", size_max="", email=" mailto:Eva@Firma.CZ ")
    )
    assert (company.country, company.city, company.size_min, company.size_max) == ("CZ", None, 250, None)
    assert company.email == "Eva@firma.cz"


# --- filters ---------------------------------------------------------------------------------------------


FOLDED_CITY = "importer.fold_text(city) = ANY(ARRAY[importer.fold_text(%s::text)])"


def sql_of(f: DirectoryFilter) -> tuple[str, list[Any]]:
    where, params = where_clause(f)
    return where.as_string(None), params


@pytest.mark.parametrize(
    ("criteria", "sql", "params"),
    [
        ({}, "TRUE", []),
        ({"country": "CZ"}, '"country" = ANY(%s)', [["CZ"]]),
        (
            {"country": ["CZ", "SK"], "city": "Brno", "industry": ["IT services"]},
            '"country" = ANY(%s) AND ' + FOLDED_CITY + ' AND "industry" = ANY(%s)',
            [["CZ", "SK"], "Brno", ["IT services"]],
        ),
        # Cities ignore case and accents: each value is folded by the same SQL function as the column.
        (
            {"city": ["plzen", "BRNO"]},
            "importer.fold_text(city) = ANY(ARRAY[importer.fold_text(%s::text), importer.fold_text(%s::text)])",
            ["plzen", "BRNO"],
        ),
        ({"size_min": 10}, "size_band && int4range(%s::integer, %s::integer, '[]')", [10, None]),
        ({"size_max": 49}, "size_band && int4range(%s::integer, %s::integer, '[]')", [None, 49]),
        (
            {"revenue_min": 1_000_000, "revenue_max": 5_000_000},
            "revenue_band && int8range(%s::bigint, %s::bigint, '[]')",
            [1_000_000, 5_000_000],
        ),
        ({"q": "  Novák "}, "search LIKE importer.fold_text(%s)", ["%Novák%"]),
        ({"q": "   ", "city": [" ", ""]}, "TRUE", []),
    ],
)
def test_directory_filter_sql(criteria: dict[str, Any], sql: str, params: list[Any]) -> None:
    assert sql_of(DirectoryFilter.model_validate(criteria)) == (sql, params)


# Text a filter accepts: no NUL and no lone surrogate (contracts.text refuses those).
FILTER_TEXT = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
FILTERS = st.builds(
    DirectoryFilter,
    country=st.lists(st.sampled_from(["CZ", "SK", "PL"]), max_size=3),
    city=st.lists(st.text(FILTER_TEXT, max_size=20), max_size=3),
    industry=st.lists(st.text(FILTER_TEXT, max_size=20), max_size=3),
    size_min=st.none() | st.integers(0, 100),
    size_max=st.none() | st.integers(100, 10_000),
    revenue_min=st.none() | st.integers(0, 10**6),
    revenue_max=st.none() | st.integers(10**6, 10**9),
    q=st.none() | st.text(FILTER_TEXT, max_size=50),
)


@PROPS
@given(FILTERS)
def test_every_criterion_becomes_one_bound_condition(f: DirectoryFilter) -> None:
    sql, params = sql_of(f)
    assert sql.count("%s") == len(params)
    conditions = [] if sql == "TRUE" else sql.split(" AND ")
    expected = sum(
        (
            bool(f.country),
            bool(f.city),
            bool(f.industry),
            f.size_min is not None or f.size_max is not None,
            f.revenue_min is not None or f.revenue_max is not None,
            bool(f.q),
        )
    )
    assert len(conditions) == expected
    # The search page, its count and the import read the same rows.
    for build in (directory.count_query(f), directory.import_query(f), directory.page_query(f, 7, 50)):
        assert sql in build[0].as_string(None)
        assert build[1][: len(params)] == params


@pytest.mark.parametrize(
    ("q", "pattern"),
    [("novak", "%novak%"), ("50%", "%50\\%%"), ("a_b", "%a\\_b%"), ("c:\\x", "%c:\\\\x%")],
)
def test_free_text_matches_its_percent_and_underscore_literally(q: str, pattern: str) -> None:
    assert like_pattern(q) == pattern


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"size_min": 50, "size_max": 10}, "size_min (50) is greater than size_max (10)"),
        ({"revenue_min": 2, "revenue_max": 1}, "revenue_min (2) is greater than revenue_max (1)"),
        ({"size_min": -1}, "greater than or equal to 0"),
        ({"planet": "Mars"}, "Extra inputs are not permitted"),
        ({"country": ["CZ"] * 101}, "at most 100 items"),
        ({"q": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_filters_are_refused_clearly(criteria: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        DirectoryFilter.model_validate(criteria)


@pytest.mark.parametrize(
    ("criteria", "label"),
    [
        ({}, "Directory: all companies"),
        ({"city": "Praha", "industry": "IT"}, "Directory: Praha, IT"),
        ({"country": ["CZ", "SK"], "size_min": 10, "size_max": 49}, "Directory: CZ, SK, 10-49 employees"),
        ({"size_min": 1000}, "Directory: 1,000+ employees"),
        ({"revenue_max": 1_000_000, "q": "stavby"}, 'Directory: revenue up to 1,000,000, "stavby"'),
        ({"city": ["x" * 100, "y" * 100]}, "Directory: " + "x" * 100 + ", " + "y" * 86 + "…"),
    ],
)
def test_directory_import_label(criteria: dict[str, Any], label: str) -> None:
    assert directory_label(DirectoryFilter.model_validate(criteria)) == label


@PROPS
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_cursor_round_trips(position: int) -> None:
    assert decode_position_cursor(encode_position_cursor(position)) == position


@pytest.mark.parametrize(
    "cursor", ["nonsense!", "", "bm90IGEgbnVtYmVy", "//79", "LTE", "OTIyMzM3MjAzNjg1NDc3NTgwOA"]
)
def test_a_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not one this API returned"):
        decode_position_cursor(cursor)


# --- the pipeline ----------------------------------------------------------------------------------------


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
    assert pipeline.pipeline_label([uuid.uuid4()], None) == "Pipeline: 1 selected lead"
    assert pipeline.pipeline_label([uuid.uuid4()] * 1200, None) == "Pipeline: 1,200 selected leads"
    assert (
        pipeline.pipeline_label(None, PipelineFilter(city=["Brno"], stage=["new"])) == "Pipeline: Brno, new"
    )
    assert pipeline.pipeline_label(None, PipelineFilter()) == "Pipeline: all leads"


def test_prepared_leads_report_bad_items_and_let_a_later_address_win() -> None:
    items = [
        PipelineLeadIn(email="Jana@Firma.cz", company_size=10),
        PipelineLeadIn(email="no-at-sign"),
        PipelineLeadIn(),
        PipelineLeadIn(first_name="Petr"),
        PipelineLeadIn(email="mailto:jana@FIRMA.CZ", company_size=20),
    ]
    prepared = pipeline.PreparedLeads(WORKSPACE, list(enumerate(items)))
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
