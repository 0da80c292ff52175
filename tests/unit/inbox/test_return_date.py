"""The date an auto-reply says its sender is back, in English, Czech and German, numeric and in words,
read relative to the message's date; table-driven and with hypothesis over every day of a year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.inbox.return_date import message_date, return_date

SENT = date(2026, 12, 18)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am out of the office until 12 January.", date(2027, 1, 12)),
        ("I'm on vacation and will be back on January 11th.", date(2027, 1, 11)),
        ("Out from 18 December until Monday, 4 January 2027, with limited access.", date(2027, 1, 4)),
        ("out of the office through 12/24 and will be returning on 12/28/2026", date(2026, 12, 28)),
        ("Jsem na dovolené, zpět budu 12. 1.", date(2027, 1, 12)),
        ("od 21. 12. do 11. 1. čerpám dovolenou, zpět budu 12. 1.", date(2027, 1, 12)),
        ("Jsem mimo kancelář do 5. ledna 2027.", date(2027, 1, 5)),
        ("Ich bin ab dem 12.01. wieder im Büro.", date(2027, 1, 12)),
        ("Ich bin bis einschließlich 9. Januar nicht erreichbar.", date(2027, 1, 9)),
        ("Back on 2027-01-07.", date(2027, 1, 7)),
        ("Ich bin bis 12. Jänner nicht im Büro.", date(2027, 1, 12)),  # Austrian: read by dateparser
        ("Ich bin ab Kalenderwoche 2 wieder im Büro.", date(2027, 1, 11)),  # the Monday of ISO week 2
        ("I'm away until Monday 21st.", date(2026, 12, 21)),
        ("Zurück am 31.12.2026", date(2026, 12, 31)),
        # No date, a past date, or a number that is not a date.
        ("I am out of the office with limited access to email.", None),
        ("I was back on 3 December.", None),
        ("Call me on 555-0193 until then.", None),
    ],
)
def test_stated_return_dates(text: str, expected: date | None) -> None:
    assert return_date(text, SENT) == expected


WITH_YEAR = [
    "I am out of the office until {d:%-d %B %Y}.",
    "Jsem na dovolené do {d.day}.{d.month}.{d.year}",
    "Abwesend bis {d:%d.%m.%Y}.",
    "Returning {d:%Y-%m-%d}.",
    "Jsem mimo kancelář do {d.day}. {d.month}. {d.year}.",
]
WITHOUT_YEAR = [
    "Back on {d:%B %-d}.",
    "Jsem mimo kancelář, zpět budu {d.day}. {d.month}.",
    "Ich bin ab dem {d:%d.%m.} wieder erreichbar.",
    "I will be back on {d:%A, %-d %B}.",
]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=365), st.sampled_from(WITH_YEAR))
def test_any_day_of_the_coming_year_reads_back(days: int, form: str) -> None:
    back = SENT + timedelta(days=days)
    assert return_date("Dobrý den / Hello,\n" + form.format(d=back), SENT) == back


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=364), st.sampled_from(WITHOUT_YEAR))
def test_a_day_without_its_year_is_the_next_such_day_within_half_a_year(days: int, form: str) -> None:
    back = SENT + timedelta(days=days)
    expected = back if days <= 183 else None
    assert return_date("Dobrý den / Hello,\n" + form.format(d=back), SENT) == expected


def test_no_message_date_no_return_date() -> None:
    assert return_date("Back on 12 January 2027.", None) is None
    assert message_date("Fri, 18 Dec 2026 15:40:21 -0500") == SENT
    assert message_date("not a date") is None
