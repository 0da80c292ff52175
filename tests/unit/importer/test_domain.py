"""Pure import logic: email normalisation, column mapping, per-chunk classification."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.commands import LEAD_FIELDS
from services.importer.domain import (
    ImportInputError,
    Outcome,
    empty_counts,
    normalise_email,
    plan_chunk,
    validate_mapping,
)

PROPS = settings(max_examples=200, deadline=None)
FAST = settings(max_examples=75, deadline=None)


@pytest.mark.parametrize(
    ("raw", "email", "key"),
    [
        ("petr@example.com", "petr@example.com", "petr@example.com"),
        ("  petr@example.com\t\n", "petr@example.com", "petr@example.com"),
        ("mailto:petr@example.com", "petr@example.com", "petr@example.com"),
        ("MAILTO:petr@example.com", "petr@example.com", "petr@example.com"),
        ("MailTo:  petr@example.com ", "petr@example.com", "petr@example.com"),
        ("  mailto:petr@example.com", "petr@example.com", "petr@example.com"),
        ("Petr.Novak@Example.COM", "Petr.Novak@example.com", "petr.novak@example.com"),
        ("PETR@EXAMPLE.COM", "PETR@example.com", "petr@example.com"),
        ("Jana+Leads@Firma.CZ", "Jana+Leads@firma.cz", "jana+leads@firma.cz"),
        ("petr@bücher.de", "petr@xn--bcher-kva.de", "petr@xn--bcher-kva.de"),
        ("Petr@BÜCHER.DE", "Petr@xn--bcher-kva.de", "petr@xn--bcher-kva.de"),
        ("petr@XN--BCHER-KVA.DE", "petr@xn--bcher-kva.de", "petr@xn--bcher-kva.de"),
        ("info@sub.domain.example.co.uk", "info@sub.domain.example.co.uk", "info@sub.domain.example.co.uk"),
        # A non-ASCII local part cannot be written in ASCII, so the domain stays in Unicode (lower-cased);
        # the key is still the same however the domain was spelled.
        ("Jiří@Bücher.DE", "Jiří@bücher.de", "jiří@bücher.de"),
        ("jiří@xn--bcher-kva.de", "jiří@bücher.de", "jiří@bücher.de"),
    ],
)
def test_normalise_email_valid(raw: str, email: str, key: str) -> None:
    result = normalise_email(raw)
    assert (result.email, result.key) == (email, key)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("mailto:", id="mailto-only"),
        pytest.param("petr.example.com", id="no-at"),
        pytest.param("petr@@example.com", id="double-at-adjacent"),
        pytest.param("petr@novak@example.com", id="two-at"),
        pytest.param("petr novak@example.com", id="space-in-local"),
        pytest.param("petr@exam ple.com", id="space-in-domain"),
        pytest.param("@example.com", id="empty-local"),
        pytest.param("petr@", id="empty-domain"),
        pytest.param("petr@localhost", id="domain-without-dot"),
        pytest.param("petr@example.com.", id="trailing-dot"),
        pytest.param("petr..novak@example.com", id="double-dot-local"),
        pytest.param("petr@-example.com", id="hyphen-after-at"),
        pytest.param("mailto:mailto:petr@example.com", id="double-mailto"),
        pytest.param("<petr@example.com>", id="angle-brackets"),
        pytest.param("Petr Novak <petr@example.com>", id="display-name"),
    ],
)
def test_normalise_email_invalid(raw: str) -> None:
    with pytest.raises(EmailNotValidError):
        normalise_email(raw)


email_like = st.builds(
    lambda prefix, local, domain, tld, pad: f"{pad}{prefix}{local}@{domain}{tld}{pad}",
    st.sampled_from(["", "mailto:", "MAILTO:", "mailto: "]),
    st.text(alphabet='aZz09._+-üřİßǅ "@', min_size=0, max_size=10),
    st.text(alphabet="aZz09.-üÄßİ ", min_size=0, max_size=10),
    st.sampled_from([".cz", ".COM", ".de.", ".xn--p1ai", ".рф", ""]),
    st.sampled_from(["", " ", "\t"]),
)
any_text = st.one_of(st.text(), st.emails().map(str), email_like)


@PROPS
@given(any_text)
def test_normalise_email_returns_or_raises_email_not_valid(raw: str) -> None:
    try:
        result = normalise_email(raw)
    except EmailNotValidError:
        return
    assert result.key == result.email.lower()
    again = normalise_email(result.email)
    assert again == result, "normalising a normalised address must not change it"
    assert normalise_email(result.key).key == result.key


@settings(max_examples=50, deadline=None)
@given(st.emails().map(str), st.randoms(use_true_random=False))
def test_case_variants_share_a_key(address: str, rnd: random.Random) -> None:
    variant = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in address)
    assert normalise_email(variant).key == normalise_email(address).key


HEADERS = ["E-mail", "Jméno", "Příjmení", "Firma", "Poznámka"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        pytest.param({}, "No column is mapped to email", id="empty-mapping"),
        pytest.param({"first_name": "Jméno"}, "No column is mapped to email", id="no-email"),
        pytest.param({"email": "", "first_name": "Jméno"}, "No column is mapped to email", id="email-empty"),
        pytest.param({"email": "E-mail", "nickname": "Jméno"}, "nickname", id="unknown-field"),
        pytest.param({"Email": "E-mail"}, "Unknown field(s) in the mapping: Email", id="field-case-matters"),
        pytest.param({"email": "Email"}, "'Email'", id="email-column-not-in-headers"),
        pytest.param({"email": "E-mail", "last_name": "Surname"}, "'Surname'", id="column-not-in-headers"),
        pytest.param({"email": " E-mail"}, "does not have", id="column-whitespace-differs"),
    ],
)
def test_validate_mapping_rejects(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ImportInputError) as info:
        validate_mapping(mapping, HEADERS)
    assert message in str(info.value)


def test_validate_mapping_lists_known_fields_and_file_columns() -> None:
    with pytest.raises(ImportInputError, match="Known fields: email, first_name"):
        validate_mapping({"email": "E-mail", "foo": "Firma"}, HEADERS)
    with pytest.raises(ImportInputError, match="The file's columns are: 'E-mail', 'Jméno'"):
        validate_mapping({"email": "Mail"}, HEADERS)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"email": "E-mail"}, {"email": "E-mail"}),
        (
            {"email": "E-mail", "first_name": "Jméno", "last_name": "Příjmení", "company_name": "Firma"},
            {"email": "E-mail", "first_name": "Jméno", "last_name": "Příjmení", "company_name": "Firma"},
        ),
        # Two fields may read the same column.
        ({"email": "E-mail", "first_name": "Jméno", "last_name": "Jméno"}, None),
        # A field left empty ("do not import") is dropped, not treated as a column name.
        ({"email": "E-mail", "phone": "", "first_name": "Jméno"}, {"email": "E-mail", "first_name": "Jméno"}),
        ({"email": "E-mail", "phone": "", "city": ""}, {"email": "E-mail"}),
    ],
)
def test_validate_mapping_accepts(mapping: dict[str, str], expected: dict[str, str] | None) -> None:
    result = validate_mapping(mapping, HEADERS)
    assert result == (mapping if expected is None else expected)
    assert all(result.values())


@PROPS
@given(
    st.dictionaries(st.sampled_from(LEAD_FIELDS[1:]), st.sampled_from([*HEADERS, ""]), max_size=5),
    st.sampled_from(HEADERS),
)
def test_validate_mapping_drops_only_empty_values(optional: dict[str, str], email_column: str) -> None:
    mapping = {"email": email_column, **optional}
    assert validate_mapping(mapping, HEADERS) == {k: v for k, v in mapping.items() if v}


def test_empty_counts_has_every_outcome_at_zero() -> None:
    counts = empty_counts()
    assert counts == {o.value: 0 for o in Outcome}
    assert set(counts) == {
        "imported",
        "duplicate_in_file",
        "already_in_campaign",
        "suppressed",
        "invalid_format",
        "missing_email",
        "rejected",
    }
    assert empty_counts() is not counts


MAPPING = {"email": "E-mail", "first_name": "Jméno", "last_name": "Příjmení"}


def _row(email: str | None, first: str = "Jan", last: str = "Novák", **custom: str) -> dict[str, str]:
    row = {"Jméno": first, "Příjmení": last, **custom}
    if email is not None:
        row["E-mail"] = email
    return row


def _summary(rows: list[dict[str, str]]) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    plan = plan_chunk(enumerate(rows, start=1), MAPPING)
    return (
        [(c.row, c.email) for c in plan.candidates],
        [(r.row, r.value, r.outcome.value) for r in plan.rejections],
    )


@pytest.mark.parametrize(
    ("emails", "candidates", "rejections"),
    [
        pytest.param(["a@x.cz", "b@x.cz"], [(1, "a@x.cz"), (2, "b@x.cz")], [], id="distinct"),
        pytest.param(
            ["a@x.cz", "a@x.cz"], [(1, "a@x.cz")], [(2, "a@x.cz", "duplicate_in_file")], id="exact-duplicate"
        ),
        pytest.param(
            ["Petr@X.cz", "petr@x.CZ", " mailto:PETR@x.cz "],
            [(1, "Petr@x.cz")],
            [(2, "petr@x.CZ", "duplicate_in_file"), (3, "mailto:PETR@x.cz", "duplicate_in_file")],
            id="case-variants-first-wins",
        ),
        pytest.param(
            ["petr@bücher.de", "PETR@xn--bcher-kva.de"],
            [(1, "petr@xn--bcher-kva.de")],
            [(2, "PETR@xn--bcher-kva.de", "duplicate_in_file")],
            id="idn-and-punycode-are-one-address",
        ),
        pytest.param(
            ["", "   ", None],
            [],
            [(1, "", "missing_email"), (2, "", "missing_email"), (3, "", "missing_email")],
            id="missing",
        ),
        pytest.param(
            ["not-an-email", "a@localhost", "a b@x.cz", "@x.cz"],
            [],
            [
                (1, "not-an-email", "invalid_format"),
                (2, "a@localhost", "invalid_format"),
                (3, "a b@x.cz", "invalid_format"),
                (4, "@x.cz", "invalid_format"),
            ],
            id="invalid",
        ),
        pytest.param(
            ["bad", "a@x.cz", "", "A@X.CZ", "b@x.cz"],
            [(2, "a@x.cz"), (5, "b@x.cz")],
            [(1, "bad", "invalid_format"), (3, "", "missing_email"), (4, "A@X.CZ", "duplicate_in_file")],
            id="mixed",
        ),
        pytest.param(
            ["  bad  ", "x@y.cz"],
            [(2, "x@y.cz")],
            [(1, "bad", "invalid_format")],
            id="rejected-value-is-trimmed",
        ),
        pytest.param([], [], [], id="empty-chunk"),
    ],
)
def test_plan_chunk_classifies(
    emails: list[str | None], candidates: list[tuple[int, str]], rejections: list[tuple[int, str, str]]
) -> None:
    assert _summary([_row(e) for e in emails]) == (candidates, rejections)


def test_plan_chunk_keeps_the_given_row_numbers() -> None:
    rows = [(7, _row("a@x.cz")), (12, _row("A@x.cz")), (40, _row(""))]
    plan = plan_chunk(rows, MAPPING)
    assert [c.row for c in plan.candidates] == [7]
    assert [(r.row, r.outcome) for r in plan.rejections] == [
        (12, Outcome.DUPLICATE_IN_FILE),
        (40, Outcome.MISSING_EMAIL),
    ]


def test_plan_chunk_invalid_rejection_carries_the_validator_reason() -> None:
    (rejection,) = plan_chunk([(1, _row("petr@localhost"))], MAPPING).rejections
    assert rejection.outcome is Outcome.INVALID_FORMAT
    assert "period" in rejection.reason


@pytest.mark.parametrize(
    ("row", "mapping", "fields", "custom"),
    [
        pytest.param(
            {
                "E-mail": "a@x.cz",
                "Jméno": "  Jiří ",
                "Příjmení": "Čapek",
                "Firma": "ACME",
                "Poznámka": " vip ",
            },
            MAPPING,
            {"first_name": "Jiří", "last_name": "Čapek"},
            {"Firma": "ACME", "Poznámka": " vip "},
            id="mapped-stripped-unmapped-custom-verbatim",
        ),
        pytest.param(
            {"E-mail": "a@x.cz", "Jméno": "   ", "Příjmení": ""},
            MAPPING,
            {"first_name": None, "last_name": None},
            {},
            id="empty-optional-is-none",
        ),
        pytest.param(
            {"E-mail": "a@x.cz"},
            MAPPING,
            {"first_name": None, "last_name": None},
            {},
            id="mapped-column-absent-from-row",
        ),
        pytest.param(
            {"E-mail": "a@x.cz", "Jméno": "Jan", "Firma": ""},
            {"email": "E-mail"},
            {},
            {"Jméno": "Jan", "Firma": ""},
            id="email-only-mapping",
        ),
        pytest.param(
            {"E-mail": "a@x.cz", "Jméno": "Jan"},
            {"email": "E-mail", "first_name": "Jméno", "last_name": "Jméno"},
            {"first_name": "Jan", "last_name": "Jan"},
            {},
            id="one-column-two-fields",
        ),
    ],
)
def test_plan_chunk_fields_and_custom(
    row: dict[str, str], mapping: dict[str, str], fields: dict[str, str | None], custom: dict[str, str]
) -> None:
    (candidate,) = plan_chunk([(1, row)], mapping).candidates
    assert candidate.fields == fields
    assert candidate.custom == custom
    assert "E-mail" not in candidate.custom
    assert (candidate.email, candidate.key) == ("a@x.cz", "a@x.cz")


POOL = ["petr@example.com", "Jana.Novak@firma.cz", "info@bücher.de", "x@y.cz", "o'brien@pub.ie"]
GARBAGE = ["", "   ", "not-an-email", "a@b", "@x.cz", "two@@x.cz", "sp ace@x.cz", "mailto:"]


@st.composite
def email_cells(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return None  # the column is absent from the row
    if draw(st.booleans()):
        base = draw(st.sampled_from(POOL))
        base = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in base)
        prefix = draw(st.sampled_from(["", "mailto:", "MAILTO:"]))
        pad = draw(st.sampled_from(["", " ", "\t "]))
        return f"{pad}{prefix}{base}{pad}"
    return draw(st.one_of(st.sampled_from(GARBAGE), st.text(max_size=8)))


@FAST
@given(
    st.lists(
        st.tuples(email_cells(), st.text(max_size=4), st.text(max_size=4)),
        max_size=25,
    ),
    st.integers(1, 1000),
)
def test_plan_chunk_accounts_for_every_row_once(
    cells: list[tuple[str | None, str, str]], first_number: int
) -> None:
    rows = []
    for offset, (email, name, note) in enumerate(cells):
        row = {"Jméno": name, "Poznámka": note}
        if email is not None:
            row["E-mail"] = email
        rows.append((first_number + offset, row))
    plan = plan_chunk(rows, MAPPING)

    seen_numbers = [c.row for c in plan.candidates] + [r.row for r in plan.rejections]
    assert sorted(seen_numbers) == [n for n, _ in rows]

    keys = [c.key for c in plan.candidates]
    assert len(keys) == len(set(keys))

    # An independent model: the first row with a valid address for a key wins, later ones are duplicates.
    first_by_key: dict[str, int] = {}
    expected: dict[int, str] = {}
    for number, row in rows:
        raw = (row.get("E-mail") or "").strip()
        if not raw:
            expected[number] = Outcome.MISSING_EMAIL
            continue
        try:
            key = normalise_email(raw).key
        except EmailNotValidError:
            expected[number] = Outcome.INVALID_FORMAT
            continue
        if key in first_by_key:
            expected[number] = Outcome.DUPLICATE_IN_FILE
        else:
            first_by_key[key] = number
            expected[number] = Outcome.IMPORTED
    actual = {c.row: Outcome.IMPORTED for c in plan.candidates} | {r.row: r.outcome for r in plan.rejections}
    assert actual == expected
    assert {c.key: c.row for c in plan.candidates} == first_by_key
    for candidate in plan.candidates:
        assert candidate.key == candidate.email.lower()
        assert candidate.custom == {"Poznámka": dict(rows)[candidate.row]["Poznámka"]}
