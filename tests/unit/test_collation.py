"""Czech sort keys: č after c, ch after h, ř after r, š after s, ž after z; nothing sorts before a value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.collation import person_name, sort_key


def czech(values: list[str]) -> list[str]:
    return sorted(values, key=lambda v: sort_key(v) or b"")


@pytest.mark.parametrize(
    "ordered",
    [
        ["Cibulka", "Cz", "Čapek", "Černý", "Dvořák"],  # č is a letter after c, not a variant of it
        ["Hora", "Hýbl", "Chalupa", "Chýně", "Ivan"],  # ch is one letter, after h
        ["Rybář", "Řezník", "Sýkora", "Šťastný", "Tůma"],  # ř after r, š after s
        ["Zeman", "Zubr", "Žába"],  # ž after z; "Černý" no longer sorts after "Z"
        ["Abel", "Ábel", "Adam"],  # á is a and ranks as a variant of it (a tie broken by the accent)
        ["alfa", "Alfa", "ALFA"],  # case only breaks ties
        ["123 Alfa", "Alfa"],  # digits before letters
        ["Lodz", "Łódź", "Ozon", "Öztürk"],  # other Central European letters sort with their base letter
    ],
)
def test_czech_order(ordered: list[str]) -> None:
    assert czech(list(reversed(ordered))) == ordered


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_value_has_no_key(empty: str | None) -> None:
    assert sort_key(empty) is None


@pytest.mark.parametrize(
    ("first", "last", "name"),
    [
        ("Jan", "Novák", "Novák Jan"),
        (" Jan ", None, "Jan"),
        (None, "Novák", "Novák"),
        ("", "  ", None),
        (None, None, None),
    ],
)
def test_a_name_sorts_by_surname_then_first_name(
    first: str | None, last: str | None, name: str | None
) -> None:
    assert person_name(first, last) == name


@given(st.text(min_size=1).filter(str.strip), st.text(min_size=1).filter(str.strip))
def test_keys_order_as_the_collation_compares_and_tie_only_for_equal_text(a: str, b: str) -> None:
    key_a, key_b = sort_key(a), sort_key(b)
    assert key_a is not None and key_b is not None
    assert key_a.endswith(b"\x00") and b"\x00" not in key_a[:-1]  # so bytea's byte order is the key order
    if a == b:
        assert key_a == key_b
