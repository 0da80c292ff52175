"""The company directory: installation-wide reference data (a licensed database) to pick leads from.

Loading (`leadflow directory load` / `sample`), filtering, facets, and the `directory` import source that
streams every match of a filter into a campaign through the normal import runner. docs/sources.md
describes the file format and the decisions.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import operator
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, BinaryIO, Generic, TextIO, TypeVar

import psycopg
from email_validator import EmailNotValidError
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import subjects
from contracts.commands import (
    MAX_EMPLOYEES,
    MAX_REVENUE,
    DirectoryCompany,
    DirectoryFacets,
    DirectoryFilter,
    DirectoryPage,
    GetDirectoryFacets,
    ImportStatusReply,
    PipelineFilter,
    SearchDirectory,
    StartDirectoryImport,
)
from contracts.text import check_text
from services.importer.csv_source import detect_delimiter, detect_encoding
from services.importer.domain import ImportInputError, normalise_email
from services.importer.jobs import start
from services.importer.runner import ImportRunner
from services.importer.sources import QuerySource
from services.runtime.collation import sort_key
from services.runtime.cursors import InvalidCursor, decode_cursor, encode_cursor
from services.runtime.service import Service

TABLE = sql.Identifier("importer", "directory_companies")

TEXT_LIMITS: dict[str, int] = {
    "country": 100,
    "city": 100,
    "industry": 100,
    "company_name": 200,
    "website": 200,
    "email": 254,
    "first_name": 100,
}
NUMBER_LIMITS: dict[str, int] = {
    "size_min": MAX_EMPLOYEES,
    "size_max": MAX_EMPLOYEES,
    "revenue_min": MAX_REVENUE,
    "revenue_max": MAX_REVENUE,
}
FACET_LIMIT = 10_000
SAMPLE_BYTES = 64 * 1024
T = TypeVar("T")


class DirectoryFileError(Exception):
    """The file cannot be loaded at all (no header, wrong columns, not text); nothing was loaded."""


@dataclass(frozen=True)
class DirectoryRow:
    country: str | None
    city: str | None
    industry: str | None
    size_min: int | None
    size_max: int | None
    revenue_min: int | None
    revenue_max: int | None
    company_name: str
    website: str | None
    email: str | None
    first_name: str | None

    def values(self) -> tuple[Any, ...]:
        """In CSV_COLUMNS order (the COPY column list)."""
        values: tuple[Any, ...] = _row_values(self)
        return values


# The columns of a directory file, in the order `sample --output` writes them (any order loads).
CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DirectoryRow))
_KNOWN_COLUMNS = frozenset(CSV_COLUMNS)
_row_values = operator.attrgetter(*CSV_COLUMNS)


# --- reading a directory file ----------------------------------------------------------------------------


def parse_row(values: Mapping[str, str]) -> DirectoryRow:
    """One record of a directory file; raises ValueError with the reason a person can act on."""
    text: dict[str, str | None] = {}
    for name, limit in TEXT_LIMITS.items():
        value = values.get(name, "").strip()
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from exc
        if len(value) > limit:
            raise ValueError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
        text[name] = value or None
    numbers = {
        name: _whole_number(name, values.get(name, ""), limit) for name, limit in NUMBER_LIMITS.items()
    }
    for band in ("size", "revenue"):
        low, high = numbers[f"{band}_min"], numbers[f"{band}_max"]
        if low is not None and high is not None and low > high:
            raise ValueError(f"{band}_min ({low}) is greater than {band}_max ({high})")
    company_name = text["company_name"]
    if company_name is None:
        raise ValueError("company_name is empty")
    email = text["email"]
    if email is not None:
        try:
            email = normalise_email(email).email
        except EmailNotValidError as exc:
            raise ValueError(f"email {email!r} is not an email address: {exc}") from None
    return DirectoryRow(
        country=text["country"],
        city=text["city"],
        industry=text["industry"],
        size_min=numbers["size_min"],
        size_max=numbers["size_max"],
        revenue_min=numbers["revenue_min"],
        revenue_max=numbers["revenue_max"],
        company_name=company_name,
        website=text["website"],
        email=email,
        first_name=text["first_name"],
    )


def _whole_number(name: str, raw: str, limit: int) -> int | None:
    value = raw.strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"{name} {value!r} is not a whole number of at least 0")
    number = int(value)
    if number > limit:
        raise ValueError(f"{name} {number} is larger than {limit:,}")
    return number


Parsed = tuple[int, DirectoryRow | str]


def read_directory_csv(raw: BinaryIO) -> Iterator[Parsed]:
    """(line, row) for every record, or (line, reason) for one that cannot be loaded.

    The header is checked before this returns, so a file with the wrong columns raises
    `DirectoryFileError` before anything is loaded. Lines are the file's physical lines (a quoted value
    may span several; a record is reported at its first line).
    """
    sample = raw.read(SAMPLE_BYTES)
    try:
        encoding = detect_encoding(sample)
    except ImportInputError as exc:
        raise DirectoryFileError(str(exc)) from exc
    text_sample = sample.decode(encoding, errors="ignore").lstrip("\ufeff")
    if not text_sample.strip():
        raise DirectoryFileError("The file is empty.")
    raw.seek(0)
    delimiter = detect_delimiter(text_sample.rsplit("\n", 1)[0] if "\n" in text_sample else text_sample)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    headers = _read_header(reader)
    return _records(text, reader, headers)


def _read_header(reader: Any) -> list[str]:
    try:
        headers = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DirectoryFileError("The file is empty.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DirectoryFileError(f"The header row cannot be read: {exc}") from exc
    counts = Counter(headers)
    missing = [c for c in CSV_COLUMNS if c not in counts]
    unknown = [h for h in headers if h not in _KNOWN_COLUMNS]
    duplicated = sorted(h for h, n in counts.items() if n > 1)
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(map(repr, unknown))}")
    if duplicated:
        problems.append(f"column(s) named twice: {', '.join(duplicated)}")
    if problems:
        raise DirectoryFileError(
            f"The header row does not fit: {'; '.join(problems)}. "
            f"A directory file has exactly these columns, in any order: {', '.join(CSV_COLUMNS)}."
        )
    return headers


def _records(text: io.TextIOWrapper, reader: Any, headers: list[str]) -> Iterator[Parsed]:
    width = len(headers)
    line = reader.line_num
    try:
        for values in reader:
            first_line, line = line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != width:
                yield first_line, f"the row has {len(values)} fields, the header has {width}"
                continue
            try:
                yield first_line, parse_row(dict(zip(headers, values, strict=True)))
            except ValueError as exc:
                yield first_line, str(exc)
    finally:
        # The caller owns the binary file (and reads its position for progress); don't let the text
        # wrapper close it when it is collected.
        text.detach()


def write_directory_csv(rows: Iterable[DirectoryRow], out: TextIO) -> int:
    """The directory file format: UTF-8, comma-separated, a header row. Returns the rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow("" if v is None else v for v in row.values())
        count += 1
    return count


# --- writing to the directory ----------------------------------------------------------------------------

COPY = sql.SQL("COPY {} ({}) FROM STDIN").format(TABLE, sql.SQL(", ").join(map(sql.Identifier, CSV_COLUMNS)))


class DirectoryBusy(Exception):
    """`--replace` could not empty the directory: something is reading it (a running directory import)."""


def copy_rows(
    conninfo: str,
    rows: Iterable[DirectoryRow],
    *,
    replace: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY rows into the directory in one transaction (emptied first with `replace`); returns the count.

    A failure anywhere rolls everything back, so the directory is never left half-replaced.
    """
    count = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        if replace:
            # A running directory import reads the table for minutes, and every search would queue behind a
            # TRUNCATE waiting for it; better to give up soon and say why.
            cur.execute("SET LOCAL lock_timeout = '10s'")
            try:
                cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(TABLE))
            except psycopg.errors.LockNotAvailable as exc:
                raise DirectoryBusy(
                    "The directory is being read (most likely by a running directory import); "
                    "load it again with --replace when that has finished."
                ) from exc
            cur.execute("SET LOCAL lock_timeout = 0")
        with cur.copy(COPY) as copy:
            for row in rows:
                copy.write_row(row.values())
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count)
    if progress is not None:
        progress(count)
    # Fresh statistics for the planner and a visibility map for index-only counts: without them the
    # first searches after a big load scan the table.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(TABLE))
    return count


# --- the synthetic Central-European sample ---------------------------------------------------------------


class _Weighted(Generic[T]):
    """Picks one value with probability proportional to its weight (bisect: the sample draws millions)."""

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        values, weights = zip(*pairs, strict=True)
        self.values: tuple[T, ...] = values
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


@dataclass(frozen=True)
class _Country:
    code: str
    weight: int
    cities: _Weighted[str]
    surnames: tuple[str, ...]
    first_names: tuple[str, ...]
    legal_forms: _Weighted[str]
    mailboxes: tuple[str, ...]
    language: int  # index into each industry's local words
    umlauts: bool  # German spelling of ä/ö/ü in domains (mueller.de)


def _country(
    code: str,
    weight: int,
    cities: str,
    surnames: str,
    first_names: str,
    legal_forms: str,
    mailboxes: str,
    language: int,
    umlauts: bool = False,
) -> _Country:
    """Lists as text: names separated by spaces; weighted lists as "name weight, name weight"."""

    def weighted(text: str) -> _Weighted[str]:
        pairs = (item.strip().rsplit(" ", 1) for item in text.split(","))
        return _Weighted((name, int(weight)) for name, weight in pairs)

    return _Country(
        code,
        weight,
        weighted(cities),
        tuple(surnames.split()),
        tuple(first_names.split()),
        weighted(legal_forms),
        tuple(mailboxes.split()),
        language,
        umlauts,
    )


_COUNTRIES: tuple[_Country, ...] = (
    _country(
        "CZ",
        30,
        "Praha 35, Brno 12, Ostrava 8, Plzeň 6, Liberec 4, Olomouc 4, České Budějovice 4, Hradec Králové 4, "
        "Ústí nad Labem 3, Pardubice 3, Zlín 3, Jihlava 2",
        "Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Pokorný Marek Pospíšil Hájek "
        "Král Jelínek Růžička Beneš Fiala Sedláček",
        "Jan Petr Jiří Pavel Tomáš Martin Jakub Ondřej Jana Eva Hana Lucie Kateřina Lenka Marie",
        "s.r.o. 70, a.s. 15, spol. s r.o. 10, v.o.s. 5",
        "info obchod kontakt",
        0,
    ),
    _country(
        "SK",
        12,
        "Bratislava 35, Košice 18, Žilina 9, Prešov 8, Banská Bystrica 8, Nitra 8, Trnava 7, Trenčín 7",
        "Horváth Kováč Varga Tóth Nagy Baláž Szabó Molnár Balog Lukáč Kováčik Polák Kollár Németh Hudák",
        "Peter Ján Michal Martin Tomáš Lukáš Mária Jana Zuzana Katarína Lucia Andrea",
        "s.r.o. 80, a.s. 15, k.s. 5",
        "info obchod kontakt",
        1,
    ),
    _country(
        "PL",
        25,
        "Warszawa 30, Kraków 15, Wrocław 12, Łódź 10, Poznań 10, Gdańsk 9, Katowice 8, Szczecin 6",
        "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak "
        "Dąbrowski Kozłowski Jankowski Mazur Krawczyk",
        "Piotr Krzysztof Tomasz Paweł Michał Łukasz Anna Katarzyna Małgorzata Agnieszka Magdalena Joanna",
        "Sp. z o.o. 75, S.A. 10, sp.j. 10, sp.k. 5",
        "biuro info kontakt",
        2,
    ),
    _country(
        "AT",
        10,
        "Wien 45, Graz 15, Linz 12, Salzburg 10, Innsbruck 9, Klagenfurt 5, Sankt Pölten 4",
        "Gruber Huber Bauer Wagner Müller Pichler Steiner Moser Mayer Hofer Leitner Berger Fuchs Eder Schwarz",
        "Lukas Florian Maximilian Tobias Stefan Jürgen Anna Katharina Lena Sarah Julia Christina",
        "GmbH 75, OG 10, KG 10, AG 5",
        "office info kontakt",
        3,
        umlauts=True,
    ),
    _country(
        "HU",
        10,
        "Budapest 50, Debrecen 10, Szeged 9, Miskolc 8, Pécs 8, Győr 8, Székesfehérvár 7",
        "Nagy Kovács Tóth Szabó Horváth Varga Kiss Molnár Németh Farkas Balogh Papp Takács Juhász Lakatos",
        "László István Zoltán Gábor Péter Attila Katalin Erzsébet Zsófia Eszter Anna Réka",
        "Kft. 75, Zrt. 10, Bt. 10, Nyrt. 5",
        "iroda info ugyfelszolgalat",
        4,
    ),
    _country(
        "DE",
        13,
        "Berlin 20, München 15, Hamburg 15, Dresden 10, Leipzig 10, Nürnberg 10, Regensburg 5, Görlitz 3",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Richter "
        "Klein Wolf",
        "Thomas Michael Andreas Stefan Jörg Jürgen Sabine Claudia Susanne Petra Anja Katrin",
        "GmbH 65, GmbH & Co. KG 15, AG 10, UG 10",
        "office info kontakt",
        3,
        umlauts=True,
    ),
)

# Industry → the word a company of that industry puts in its name: Czech, Slovak, Polish, German, Hungarian.
_INDUSTRIES: tuple[tuple[str, int, tuple[str, str, str, str, str]], ...] = (
    ("Construction", 14, ("Stavby", "Stavby", "Budownictwo", "Bau", "Építő")),
    ("IT services", 12, ("Software", "Software", "Software", "Software", "Szoftver")),
    ("Manufacturing", 12, ("Strojírny", "Strojárne", "Produkcja", "Maschinenbau", "Gépgyártó")),
    ("Logistics", 8, ("Logistika", "Logistika", "Logistyka", "Logistik", "Logisztika")),
    ("Retail", 10, ("Obchod", "Obchod", "Handel", "Handel", "Kereskedelmi")),
    ("Accounting", 7, ("Účetnictví", "Účtovníctvo", "Rachunkowość", "Steuerberatung", "Könyvelő")),
    ("Real estate", 6, ("Reality", "Reality", "Nieruchomości", "Immobilien", "Ingatlan")),
    ("Marketing", 6, ("Marketing", "Marketing", "Marketing", "Werbung", "Marketing")),
    ("Healthcare", 5, ("Zdraví", "Zdravie", "Medica", "Medizintechnik", "Egészség")),
    ("Food & beverage", 7, ("Potraviny", "Potraviny", "Żywność", "Lebensmittel", "Élelmiszer")),
    ("Energy", 4, ("Energie", "Energia", "Energia", "Energie", "Energia")),
    ("Automotive", 5, ("Autodíly", "Autodiely", "Motoryzacja", "Autoteile", "Autóalkatrész")),
    ("Hospitality", 4, ("Hotely", "Hotely", "Hotele", "Hotels", "Szálloda")),
)
# Employees (EU size classes; the last is open-ended) and yearly revenue in EUR.
_SIZE_BANDS: tuple[tuple[int, int | None, int], ...] = (
    (1, 9, 45),
    (10, 49, 30),
    (50, 249, 15),
    (250, 999, 7),
    (1000, None, 3),
)
_REVENUE_BANDS: tuple[tuple[int, int | None], ...] = (
    (0, 199_999),
    (200_000, 999_999),
    (1_000_000, 4_999_999),
    (5_000_000, 19_999_999),
    (20_000_000, 99_999_999),
    (100_000_000, None),
)
_NO_EMAIL = 0.03
_NO_REVENUE = 0.02
_GENERIC_MAILBOX = 0.12


@lru_cache(maxsize=4096)
def _slug(text: str, umlauts: bool) -> str:
    """ASCII for a domain or a mailbox: "Účetnictví" → "ucetnictvi", "Müller" → "mueller" in German."""
    lowered = text.lower()
    if umlauts:
        lowered = lowered.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    lowered = lowered.replace("ß", "ss").replace("ł", "l").replace("&", " ")
    ascii_text = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode()
    words = ["".join(ch for ch in word if ch.isalnum()) for word in ascii_text.split()]
    return "-".join(word for word in words if word)


_PICK_COUNTRY = _Weighted((c, c.weight) for c in _COUNTRIES)
_PICK_INDUSTRY = _Weighted(((name, words), weight) for name, weight, words in _INDUSTRIES)
_PICK_SIZE = _Weighted((index, weight) for index, (_, _, weight) in enumerate(_SIZE_BANDS))


def sample_rows(count: int, seed: int = 1) -> Iterator[DirectoryRow]:
    """`count` synthetic Central-European companies; the same seed always gives the same rows.

    Company names follow each country's custom ("Novák Stavby s.r.o.", "Gruber Bau GmbH"), domains are
    unique and derived from the name, contact addresses are on the company's domain, and a few companies
    have no address (or no revenue figure), as in a real directory.
    """
    rng = random.Random(seed)
    domains: dict[str, int] = {}
    for _ in range(count):
        country = _PICK_COUNTRY.pick(rng)
        city = country.cities.pick(rng)
        industry, words = _PICK_INDUSTRY.pick(rng)
        surnames = country.surnames
        surname = surnames[int(rng.random() * len(surnames))]
        style = rng.random()
        if style < 0.6:
            stem = f"{surname} {words[country.language]}"
        elif style < 0.85:
            stem = f"{words[country.language]} {city}"
        else:
            partner = surnames[
                (surnames.index(surname) + 1 + int(rng.random() * (len(surnames) - 1))) % len(surnames)
            ]
            stem = f"{surname} & {partner}"
        base = _slug(stem, country.umlauts)
        seen = domains[base] = domains.get(base, 0) + 1
        domain = f"{base}{seen if seen > 1 else ''}.{country.code.lower()}"
        size_index = _PICK_SIZE.pick(rng)
        size_min, size_max, _ = _SIZE_BANDS[size_index]
        revenue: tuple[int | None, int | None] = (None, None)
        if rng.random() >= _NO_REVENUE:
            revenue = _REVENUE_BANDS[min(size_index + (rng.random() < 0.5), len(_REVENUE_BANDS) - 1)]
        first_name: str | None = country.first_names[int(rng.random() * len(country.first_names))]
        email: str | None
        chance = rng.random()
        if chance < _NO_EMAIL:
            email = None
        elif chance < _NO_EMAIL + _GENERIC_MAILBOX:
            first_name = None
            email = f"{country.mailboxes[int(rng.random() * len(country.mailboxes))]}@{domain}"
        else:
            assert first_name is not None
            contact = surnames[int(rng.random() * len(surnames))]
            email = f"{_mailbox(rng, first_name, contact, country.umlauts)}@{domain}"
        yield DirectoryRow(
            country=country.code,
            city=city,
            industry=industry,
            size_min=size_min,
            size_max=size_max,
            revenue_min=revenue[0],
            revenue_max=revenue[1],
            company_name=f"{stem} {country.legal_forms.pick(rng)}",
            website=f"www.{domain}",
            email=email,
            first_name=first_name,
        )


def _mailbox(rng: random.Random, first_name: str, surname: str, umlauts: bool) -> str:
    first, last = _slug(first_name, umlauts), _slug(surname, umlauts)
    style = rng.random()
    if style < 0.5:
        return f"{first}.{last}"
    if style < 0.8:
        return first
    return f"{first[0]}{last}"


# --- filtering -------------------------------------------------------------------------------------------


def like_pattern(q: str) -> str:
    """A LIKE pattern matching `q` anywhere; its own % and _ match literally."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def folded_city_condition(values: Sequence[str]) -> tuple[sql.Composable, list[Any]]:
    """Cities that match ignoring case and accents (`plzen` finds Plzeň, `BRNO` Brno): both sides folded
    by the same SQL function, served by an index on the folded city. One `fold_text(%s)` per value (not a
    subquery over an array) so the planner folds them to constants and can estimate the match count."""
    folded = sql.SQL(", ").join(sql.SQL("importer.fold_text(%s::text)") for _ in values)
    return sql.SQL("importer.fold_text(city) = ANY(ARRAY[{}])").format(folded), list(values)


def value_conditions(
    f: DirectoryFilter | PipelineFilter, columns: Sequence[str]
) -> tuple[list[sql.Composable], list[Any]]:
    """For each of these filter fields that lists values, the condition "the column is one of them" (the
    city folded, as `folded_city_condition`) and its parameters, in order."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for column in columns:
        values = getattr(f, column)
        if values:
            if column == "city":
                condition, values = folded_city_condition(values)
                parts.append(condition)
                params += values
            else:
                parts.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
                params.append(list(values))
    return parts, params


def where_clause(f: DirectoryFilter) -> tuple[sql.Composable, list[Any]]:
    """The SQL condition of a filter and its parameters (the search page, its count and an import share it,
    so the count a person sees is the number of rows the import reads)."""
    parts, params = value_conditions(f, ("country", "city", "industry"))
    if f.size_min is not None or f.size_max is not None:
        parts.append(sql.SQL("size_band && int4range(%s::integer, %s::integer, '[]')"))
        params += [f.size_min, f.size_max]
    if f.revenue_min is not None or f.revenue_max is not None:
        parts.append(sql.SQL("revenue_band && int8range(%s::bigint, %s::bigint, '[]')"))
        params += [f.revenue_min, f.revenue_max]
    if f.q:
        parts.append(sql.SQL("search LIKE importer.fold_text(%s)"))
        params.append(like_pattern(f.q))
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")), params


_PAGE_COLUMNS = tuple(DirectoryCompany.model_fields)
# What an import copies: lead fields by name; country and the bands become the lead's custom values.
_IMPORT_COLUMNS = (
    "id",
    "email",
    "first_name",
    "company_name",
    "website",
    "city",
    "industry",
    "country",
    "size_min",
    "size_max",
    "revenue_min",
    "revenue_max",
)


def import_query(f: DirectoryFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, _IMPORT_COLUMNS)), TABLE, where
    )
    return query, params


def page_query(f: DirectoryFilter, after: int | None, limit: int) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    if after is not None:
        where = sql.SQL("{} AND id > %s").format(where)
        params.append(after)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, _PAGE_COLUMNS)), TABLE, where
    )
    return query, [*params, limit]


def count_query(f: DirectoryFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = where_clause(f)
    return sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(TABLE, where), params


def facet_query(column: str) -> tuple[sql.Composed, list[Any]]:
    """The distinct values of an indexed column, walking its index one value at a time (a loose index
    scan), so the cost grows with the number of distinct values, not with the million rows."""
    query = sql.SQL(
        "WITH RECURSIVE facet(value) AS ("
        "(SELECT {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY {col} LIMIT 1) "
        "UNION ALL "
        "SELECT (SELECT {col} FROM {table} WHERE {col} > facet.value ORDER BY {col} LIMIT 1) "
        "FROM facet WHERE facet.value IS NOT NULL"
        ") SELECT value FROM facet WHERE value IS NOT NULL LIMIT %s"
    ).format(col=sql.Identifier(column), table=TABLE)
    return query, [FACET_LIMIT]


def cities_query(countries: Sequence[str]) -> tuple[sql.Composed, list[Any]]:
    """The distinct cities of some countries: the same loose scan over the (country, city) index."""
    if not countries:
        return facet_query("city")
    query = sql.SQL(
        "WITH RECURSIVE facet(country, value) AS ("
        "(SELECT country, city FROM {table} WHERE country = ANY(%s) AND city IS NOT NULL "
        "ORDER BY country, city LIMIT 1) "
        "UNION ALL "
        "SELECT next.country, next.city FROM facet CROSS JOIN LATERAL ("
        "SELECT country, city FROM {table} WHERE country = ANY(%s) AND city IS NOT NULL "
        "AND (country, city) > (facet.country, facet.value) ORDER BY country, city LIMIT 1) AS next"
        ") SELECT DISTINCT value FROM facet ORDER BY value LIMIT %s"
    ).format(table=TABLE)
    return query, [list(countries), list(countries), FACET_LIMIT]


def in_czech_order(values: Iterable[str]) -> list[str]:
    """Dropdown values as a Czech reader looks for them: České Budějovice after Brno, not after Znojmo."""
    return sorted(values, key=lambda value: sort_key(value) or b"")


def encode_position_cursor(position: int) -> str:
    return encode_cursor(position)


def decode_position_cursor(cursor: str) -> int:
    """Raises InvalidCursor (a ValueError) for a cursor this API did not hand out."""
    position = decode_cursor(cursor)
    if type(position) is not int or not 0 <= position < 2**63:  # a bigint
        raise InvalidCursor
    return position


def range_label(low: int | None, high: int | None) -> str | None:
    if low is None and high is None:
        return None
    if high is None:
        return f"{low:,}+"
    if low is None:
        return f"up to {high:,}"
    return f"{low:,}-{high:,}" if low != high else f"{low:,}"


def filter_label(
    prefix: str, lists: Sequence[Sequence[str]], f: DirectoryFilter | PipelineFilter, everything: str
) -> str:
    """A human name for an import made from a filter, e.g. "Directory: Praha, IT services"."""
    parts = [", ".join(values) for values in lists if values]
    size, revenue = range_label(f.size_min, f.size_max), range_label(f.revenue_min, f.revenue_max)
    if size:
        parts.append(f"{size} employees")
    if revenue:
        parts.append(f"revenue {revenue}")
    if f.q:
        parts.append(f'"{f.q}"')
    label = f"{prefix}: {', '.join(parts) or everything}"
    return label if len(label) <= 200 else label[:199] + "…"


def directory_label(f: DirectoryFilter) -> str:
    return filter_label("Directory", [f.country, f.city, f.industry], f, "all companies")


async def fetch(session: AsyncSession, query: sql.Composed, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Run a psycopg query on the session's connection (the same SQL the import source runs)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    async with raw.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


# --- the importer's commands and import source -----------------------------------------------------------


def build_source(conninfo: str, job: Any) -> QuerySource:
    try:
        f = DirectoryFilter.model_validate(job.params.get("filter", {}))
    except ValidationError as exc:
        raise ImportInputError(f"The directory filter of this import is not valid: {exc}") from exc
    query, params = import_query(f)
    return QuerySource(conninfo, query, params)


def register(service: Service, runner: ImportRunner) -> None:
    runner.sources.register("directory", build_source)
    broker = service.broker

    @broker.subscriber(
        subjects.command_subject("importer", "search_directory"),
        queue="importer",
        title="importer.search_directory",
        description="Companies of the directory matching a filter: their count and one page.",
    )
    async def search_directory(cmd: SearchDirectory) -> DirectoryPage:
        try:
            after = decode_position_cursor(cmd.cursor) if cmd.cursor else None
        except ValueError as exc:
            return DirectoryPage(error=str(exc), error_code="invalid")
        async with service.sessions() as session:
            counted = await fetch(session, *count_query(cmd.filter))
            rows = await fetch(session, *page_query(cmd.filter, after, cmd.limit + 1))
        items = [DirectoryCompany.model_validate(row) for row in rows[: cmd.limit]]
        next_cursor = encode_position_cursor(items[-1].id) if len(rows) > cmd.limit else None
        return DirectoryPage(items=items, total=counted[0]["n"], next_cursor=next_cursor)

    @broker.subscriber(
        subjects.command_subject("importer", "directory_facets"),
        queue="importer",
        title="importer.directory_facets",
        description="The distinct countries, cities (of the given countries) and industries of the directory.",
    )
    async def directory_facets(cmd: GetDirectoryFacets) -> DirectoryFacets:
        async with service.sessions() as session:
            countries = await fetch(session, *facet_query("country"))
            cities = await fetch(session, *cities_query(cmd.country))
            industries = await fetch(session, *facet_query("industry"))
        return DirectoryFacets(
            countries=in_czech_order(r["value"] for r in countries),
            cities=in_czech_order(r["value"] for r in cities),
            industries=in_czech_order(r["value"] for r in industries),
        )

    @broker.subscriber(
        subjects.command_subject("importer", "start_directory_import"),
        queue="importer",
        title="importer.start_directory_import",
        description="Import every company of the directory matching a filter into a campaign.",
    )
    async def start_directory_import(cmd: StartDirectoryImport) -> ImportStatusReply:
        return await start(
            service,
            runner,
            {
                "id": cmd.import_id,
                "workspace_id": cmd.workspace_id,
                "campaign_id": cmd.campaign_id,
                "source": "directory",
                "params": {"filter": cmd.filter.model_dump(mode="json")},
                "filename": directory_label(cmd.filter),
                "mapping": {},
            },
        )


# --- the command line ------------------------------------------------------------------------------------


def _progress_bar(console: Console, *, rows: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        MofNCompleteColumn() if rows else TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def load_file(conninfo: str, path: Path, *, replace: bool, out: IO[str]) -> int:
    """`leadflow directory load`: returns the exit status (0 all loaded, 1 some rows rejected, 2 none)."""
    console = Console(stderr=True)
    rejected = 0
    with path.open("rb") as raw, _progress_bar(console, rows=False) as bar:
        try:
            records = read_directory_csv(raw)
        except DirectoryFileError as exc:
            console.print(f"[red]{path} was not loaded:[/red] {exc}", soft_wrap=True)
            return 2
        task = bar.add_task(f"Loading {path.name}", total=path.stat().st_size)

        def good_rows() -> Iterator[DirectoryRow]:
            nonlocal rejected
            for line, row in records:
                if isinstance(row, str):
                    rejected += 1
                    bar.console.print(f"line {line}: {row}", markup=False, highlight=False, soft_wrap=True)
                else:
                    yield row

        try:
            loaded = copy_rows(
                conninfo,
                good_rows(),
                replace=replace,
                progress=lambda _n: bar.update(task, completed=raw.tell()),
            )
        except (UnicodeDecodeError, csv.Error, DirectoryBusy) as exc:
            reason = exc if not isinstance(exc, UnicodeDecodeError) else _decoding_reason(exc)
            console.print(
                f"[red]{path} was not loaded (the directory is unchanged):[/red] {reason}", soft_wrap=True
            )
            return 2
    verb = "replaced the directory with" if replace else "added"
    out.write(f"Loaded {path.name}: {verb} {_count(loaded, 'company', 'companies')}; ")
    out.write(f"{_count(rejected, 'row', 'rows')} rejected.\n")
    return 1 if rejected else 0


def _decoding_reason(exc: UnicodeDecodeError) -> str:
    return (
        f"further into the file there is a byte (0x{exc.object[exc.start : exc.start + 1].hex()}) that is "
        f"not valid {exc.encoding}; save the file as UTF-8"
    )


def load_sample(conninfo: str, rows: int, seed: int, *, replace: bool, out: IO[str]) -> None:
    """`leadflow directory sample` without `--output`: generate and COPY in one go."""
    with _progress_bar(Console(stderr=True), rows=True) as bar:
        task = bar.add_task("Generating the sample", total=rows)
        loaded = copy_rows(
            conninfo,
            sample_rows(rows, seed),
            replace=replace,
            progress=lambda n: bar.update(task, completed=n),
        )
    verb = "replaced the directory with" if replace else "added"
    out.write(f"Sample (seed {seed}): {verb} {_count(loaded, 'company', 'companies')}.\n")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"
