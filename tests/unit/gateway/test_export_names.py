"""The CSV export's names: the download's file name every client accepts (and the real one for those that
read it), and custom columns that never collide with the standard ones."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.leads.export import EXPORT_COLUMNS, content_disposition, custom_headers


@pytest.mark.parametrize(
    ("campaign", "ascii_name"),
    [
        ("Jaro 2026", "leads-jaro-2026.csv"),
        ("Žluťoučký kůň", "leads-zlutoucky-kun.csv"),
        ("Łódź / Kraków", "leads-odz-krakow.csv"),
        ("東京", "leads-campaign.csv"),
        ('"; rm -rf', "leads-rm-rf.csv"),
    ],
)
def test_the_download_has_an_ascii_name_and_the_real_one(campaign: str, ascii_name: str) -> None:
    header = content_disposition(campaign)
    assert header.startswith(f'attachment; filename="{ascii_name}"; ')
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == f"leads-{campaign}.csv"


@given(st.text(max_size=80))
def test_any_campaign_name_gives_a_header_of_plain_ascii(campaign: str) -> None:
    header = content_disposition(campaign)
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.count('"') == 2


@given(st.lists(st.sampled_from(EXPORT_COLUMNS) | st.text(min_size=1, max_size=20), unique=True))
def test_custom_columns_never_repeat_a_standard_column(keys: list[str]) -> None:
    headers = custom_headers(keys)
    assert len(headers) == len(keys)
    assert not set(headers) & set(EXPORT_COLUMNS)
    for key, header in zip(keys, headers, strict=True):
        assert header == (f"custom.{key}" if key in EXPORT_COLUMNS else key)
