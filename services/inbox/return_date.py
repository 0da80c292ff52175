"""The date an auto-reply says its sender is back ("back on 12 January", "zpět 12. 1.", "ab dem 12.01.
wieder"), read relative to the message's own Date. Pure.

The phrases that announce a return or the end of an absence are found here, in English, Czech and German;
the date after them is read here when it is numeric (day.month[.year], ISO): `dateparser` reads "12.01."
as a time of day. A date in words ("12 January", "5. ledna", "9. Januar", "Monday, 5 January 2027") goes
to `dateparser`, which knows the three languages' month names and their cases. When the text names a span
("from 20 December until 5 January"), the latest date is the return. A date before the message, or more
than a year after it, is not a return date.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime

import dateparser

# Words after which an absence's end or a return is stated.
_TRIGGER = re.compile(
    r"\b(until|till|through|thru|back (on|in the office on|at work on)?|returning( on)?|return(s)? on|"
    r"be back|in the office (again )?(on|from)|available (again )?(on|from)|from)\b|"
    r"\b(do|zpět|zpátky|od|vrátím se|k dispozici( od)?|budu (zpět|zpátky|v kanceláři))\b|"
    r"\b(bis( zum| einschließlich| inklusive)?|ab( dem| den)?|wieder( ab| am)?|zurück( am| ab)?|am)\b",
    re.IGNORECASE,
)
_WEEK = re.compile(r"\b(kalenderwoche|kw|calendar week|week|týdnu|týden)\s*(\d{1,2})\b", re.IGNORECASE)
_WEEKDAY_DAY = re.compile(
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE
)
_NUMERIC = re.compile(r"(?<![\d.])(\d{1,2})\.\s?(\d{1,2})\.(?:\s?(\d{4}|\d{2})(?!\d))?")
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
# A month's name or abbreviation in English, Czech (both cases) or German (Austria's "Jänner" and "Feber"
# among them: those dateparser reads, the table below does not).
_MONTH = (
    r"(?<![^\W\d_])(?:jan(?:uary|uar)?|jänner|jän|feb(?:ruary|ruar)?|feber|mar(?:ch)?|märz|apr(?:il)?|may|mai|jun[ei]?|jul[yi]?|"
    r"aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|okt(?:ober)?|nov(?:ember)?|dec(?:ember)?|dez(?:ember)?|"
    r"led(?:en|na)|únor(?:a)?|břez(?:en|na)|dub(?:en|na)|květ(?:en|na)|červen(?:ec|ce)?|června|srp(?:en|na)|"
    r"září|říj(?:en|na)|listopad(?:u)?|prosin(?:ec|ce))\.?(?![^\W\d_])"
)
_WEEKDAY = (
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    r"pondělí|úterý|středa|středu|čtvrtek|pátek|sobota|sobotu|neděle|neděli),?\s+(?:den\s+)?"
)
_WORDED = re.compile(
    rf"(?:{_WEEKDAY})?(?:\d{{1,2}}(?:st|nd|rd|th|\.)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?(?!\d)|"
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?!\d)(?:,?\s+\d{{4}})?(?!\d))",
    re.IGNORECASE,
)
_SLASHED = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
# Slashed dates after English words are month first (12/28), after Czech or German ones day first.
_ENGLISH_TRIGGER = re.compile(
    r"until|till|through|thru|back|return|be back|in the office|available|from", re.I
)
_WINDOW = 45
_WITHOUT_YEAR = timedelta(days=183)
_WORD_END = re.compile(r"\S*")
_LANGUAGES = ["en", "cs", "de"]
_MONTH_NUMBERS = {
    name: number
    for number, names in enumerate(
        [
            "jan january januar led leden ledna",
            "feb february februar únor února",
            "mar march märz březen března",
            "apr april duben dubna",
            "may mai květen května",
            "jun june juni červen června",
            "jul july juli červenec července",
            "aug august srpen srpna",
            "sep sept september září",
            "oct october okt oktober říjen října",
            "nov november listopad listopadu",
            "dec december dez dezember prosinec prosince",
        ],
        start=1,
    )
    for name in names.split()
}
# A leap year as dateparser's "today", so that 29 February without a year is a date.
_LEAP_BASE = datetime(2028, 1, 1)


def message_date(value: str) -> date | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.date() if parsed is not None else None


def return_date(text: str, sent: date | None) -> date | None:
    """The latest return or end-of-absence date `text` states after `sent` (within a year), or None."""
    if sent is None:
        return None
    found: list[date] = []
    for trigger in _TRIGGER.finditer(text[:3000]):
        # To the end of the word the window cuts, so a year is never cut to a day ("December 20|26").
        cut = _WORD_END.match(text, trigger.end() + _WINDOW)
        window = text[trigger.end() : cut.end() if cut else trigger.end() + _WINDOW]
        english = bool(_ENGLISH_TRIGGER.match(trigger.group(0)))
        found.extend(_dates_in(window, sent, month_first=english))
    latest = [d for d in found if sent <= d <= sent + timedelta(days=366)]
    return max(latest) if latest else None


def _dates_in(window: str, sent: date, *, month_first: bool) -> list[date]:
    """The dates written in `window` (numeric ones read here, worded ones by dateparser)."""
    out: list[date] = []
    taken: list[tuple[int, int]] = []
    for match in _ISO.finditer(window):
        out.extend(_valid(int(match.group(1)), int(match.group(2)), int(match.group(3))))
        taken.append(match.span())
    for match in _NUMERIC.finditer(window):
        if not _inside(match.span(), taken):
            out.extend(_in_year(int(match.group(1)), int(match.group(2)), match.group(3), sent))
            taken.append(match.span())
    for match in _SLASHED.finditer(window):
        if _inside(match.span(), taken):
            continue
        first, second = int(match.group(1)), int(match.group(2))
        if second > 12 or (month_first and first <= 12):
            first, second = second, first
        out.extend(_in_year(first, second, match.group(3), sent))
        taken.append(match.span())
    for match in _WEEK.finditer(window):
        out.extend(_week_monday(int(match.group(2)), sent))
    if not out:
        for match in _WEEKDAY_DAY.finditer(window):
            out.extend(_day_of_month(int(match.group(1)), sent))
    for match in _WORDED.finditer(window):
        if _inside(match.span(), taken):
            continue
        parsed = _by_month_name(match.group(0)) or _dateparser(match.group(0))
        if parsed is not None:
            year = re.search(r"\d{4}", match.group(0))
            out.extend(_in_year(parsed.day, parsed.month, year.group(0) if year else None, sent))
    return out


def _week_monday(week: int, sent: date) -> list[date]:
    """The Monday of ISO week `week`, the next such from `sent` ("ab Kalenderwoche 2", "KW 2")."""
    for year in (sent.year, sent.year + 1):
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            continue
        if monday >= sent - timedelta(days=6):
            return [max(monday, sent)]
    return []


def _day_of_month(day: int, sent: date) -> list[date]:
    """A day named with its weekday but no month ("until Monday 14th"): the next such day within a month."""
    for months in (0, 1):
        month = (sent.month - 1 + months) % 12 + 1
        year = sent.year + (sent.month - 1 + months) // 12
        found = _valid(year, month, day)
        if found and found[0] >= sent:
            return found
    return []


def _inside(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in taken)


def _in_year(day: int, month: int, year: str | None, sent: date) -> list[date]:
    """The date, its year given or else the next such day from `sent`, within half a year (an absence
    stated without a year is not longer; a day further off is a stale text or no return date)."""
    if year is not None:
        full = int(year) + (2000 if len(year) == 2 else 0)
        return _valid(full, month, day)
    for candidate_year in (sent.year, sent.year + 1):
        valid = _valid(candidate_year, month, day)
        if valid and sent <= valid[0] <= sent + _WITHOUT_YEAR:
            return valid
    return []


def _valid(year: int, month: int, day: int) -> list[date]:
    try:
        return [date(year, month, day)]
    except ValueError:
        return []


def _by_month_name(words: str) -> date | None:
    """Day and month of "12 January", "January 12th", "5. ledna", "9. Januar" (weekday and year aside),
    by the month names' table: dateparser takes about 1.6 ms a date, three times the classifier's whole
    budget for a message, so it reads only what the table does not."""
    day = re.search(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th|\.)?(?!\d)", words)
    for token in re.findall(r"[^\W\d_]+", words.lower()):
        month = _MONTH_NUMBERS.get(token)
        if month is not None and day is not None:
            found = _valid(_LEAP_BASE.year, month, int(day.group(1)))
            return found[0] if found else None
    return None


def _dateparser(words: str) -> date | None:
    """Day and month of a date in words (the year is the caller's to decide: dateparser, told to prefer
    the future, takes today's date to mean next year's)."""
    parsed = dateparser.parse(
        words,
        languages=_LANGUAGES,
        settings={"DATE_ORDER": "DMY", "REQUIRE_PARTS": ["day", "month"], "RELATIVE_BASE": _LEAP_BASE},
    )
    return parsed.date() if parsed is not None else None
