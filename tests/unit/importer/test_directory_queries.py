"""Directory filters → SQL, import labels and page cursors, without a database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.commands import DirectoryFilter
from services.importer.directory import queries
from services.importer.directory.labels import directory_label
from services.importer.directory.queries import (
    decode_position_cursor,
    encode_position_cursor,
    like_pattern,
    where_clause,
)

PROPS = settings(max_examples=100, deadline=None)


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
    for build in (queries.count_query(f), queries.import_query(f), queries.page_query(f, 7, 50)):
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
