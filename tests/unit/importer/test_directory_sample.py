"""The synthetic directory sample: deterministic, well-formed, Central-European."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from services.importer.directory.rows import CSV_COLUMNS, parse_row
from services.importer.directory.sample import sample_rows

PROPS = settings(max_examples=100, deadline=None)


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
