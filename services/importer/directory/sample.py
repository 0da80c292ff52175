"""The synthetic Central-European sample (`leadflow directory sample`), deterministic for a seed.

Hand-written rather than Faker: docs/sources.md ("The sample") says why.
"""

from __future__ import annotations

import bisect
import itertools
import random
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from services.importer.directory.rows import DirectoryRow

T = TypeVar("T")


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
