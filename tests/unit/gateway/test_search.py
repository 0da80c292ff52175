"""Search words and grams: every word of a query is matched on its own, accents and case ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.search import fold, grams, lead_search_text, query_grams, search_words


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("katerina brno", ["katerina", "brno"]),
        ("  Kateřina   BRNO ", ["katerina", "brno"]),
        ("brno Brno BRNO", ["brno"]),
        ("jan.novak@firma.cz", ["jan.novak@firma.cz"]),
        ("100% a.s.", ["100%", "a.s."]),
        ("   ", []),
    ],
)
def test_search_words(query: str, words: list[str]) -> None:
    assert search_words(query) == words


def test_the_city_is_part_of_a_leads_text() -> None:
    text = lead_search_text("k@firma.cz", "Kateřina", "Zemanová", "Zeman a.s.", "Brno")
    assert text == "k@firma.cz katerina zemanova zeman a.s. brno"
    assert lead_search_text("k@firma.cz", None, None, None, None) == "k@firma.cz"


@given(
    st.lists(st.text(alphabet="abcčdeěhřsšzž .-@", min_size=1, max_size=12), min_size=1, max_size=5),
    st.permutations(range(5)),
)
def test_a_lead_has_the_grams_of_every_query_word_it_contains_in_any_order(
    fields: list[str], order: list[int]
) -> None:
    text = lead_search_text(*(fields + [""] * 5)[:5])
    words = [w for w in fold(" ".join(fields)).split()]
    shuffled = [words[i] for i in order if i < len(words)]
    query = " ".join(shuffled)
    assert all(word in text for word in search_words(query))
    assert set(query_grams(search_words(query))) <= set(grams(text))
