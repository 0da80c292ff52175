"""The template language: refused with the reason and place at save time, rendered per lead without blanks
and without letting a lead's data add a header line or a variable."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import ImportedLead
from services.sequencer.templates import (
    FIELDS,
    LeadValues,
    NotSendable,
    TemplateError,
    TemplateErrorKind,
    Variable,
    escape_literal,
    parse_body,
    parse_subject,
)

JAN = LeadValues(
    {
        "first_name": "Jan",
        "last_name": "Novák",
        "company_name": "Acme s.r.o.",
        "city": "  ",
        "email": "jan@acme.cz",
    },
    {"Job Title": "CTO", " Region ": "Morava", "empty": ""},
)


def test_the_fields_are_those_of_an_imported_lead() -> None:
    assert set(FIELDS) == {
        "email",
        "first_name",
        "last_name",
        "company_name",
        "phone",
        "website",
        "city",
        "industry",
    }


@pytest.mark.parametrize(
    ("text", "kind", "position", "variable"),
    [
        pytest.param("Hi {{first_name", TemplateErrorKind.UNCLOSED, 3, None, id="unclosed"),
        pytest.param("Hi {{first_name}", TemplateErrorKind.UNCLOSED, 3, None, id="closed by one brace only"),
        pytest.param("Hi {{}}", TemplateErrorKind.EMPTY_NAME, 3, None, id="empty name"),
        pytest.param("Hi {{   }}", TemplateErrorKind.EMPTY_NAME, 3, None, id="blank name"),
        pytest.param("Hi {{|there}}", TemplateErrorKind.EMPTY_NAME, 3, None, id="fallback without a name"),
        pytest.param("Hi }} there", TemplateErrorKind.STRAY_CLOSE, 3, None, id="stray close"),
        pytest.param(
            "{{first_name}}}}", TemplateErrorKind.STRAY_CLOSE, 14, None, id="stray close after a variable"
        ),
        pytest.param("a }}} b", TemplateErrorKind.STRAY_CLOSE, 3, None, id="three closing braces"),
        pytest.param("{{a {{b}}}}", TemplateErrorKind.NESTED_BRACE, 4, None, id="nested"),
        pytest.param("{{first{name}}", TemplateErrorKind.NESTED_BRACE, 7, None, id="brace in a name"),
        pytest.param("{{x}y}}", TemplateErrorKind.NESTED_BRACE, 3, None, id="single close inside"),
        pytest.param(
            "{{custom.}}", TemplateErrorKind.EMPTY_COLUMN, 0, "custom.", id="custom without a column"
        ),
        pytest.param(
            "{{ custom.  }}", TemplateErrorKind.EMPTY_COLUMN, 0, "custom.", id="custom with a blank column"
        ),
        pytest.param("{{custom}}", TemplateErrorKind.EMPTY_COLUMN, 0, "custom", id="custom alone"),
        pytest.param("Hi {{frist_name}}", TemplateErrorKind.UNKNOWN_VARIABLE, 3, "frist_name", id="typo"),
        pytest.param(
            "{{First_Name}}", TemplateErrorKind.UNKNOWN_VARIABLE, 0, "First_Name", id="names are exact"
        ),
        pytest.param("{{lead_id}}", TemplateErrorKind.UNKNOWN_VARIABLE, 0, "lead_id", id="not a text field"),
        pytest.param("{{row}}", TemplateErrorKind.UNKNOWN_VARIABLE, 0, "row", id="not a lead's data"),
        pytest.param(
            "{{first name}}", TemplateErrorKind.UNKNOWN_VARIABLE, 0, "first name", id="space in a name"
        ),
        pytest.param(
            "{{first_name|}}", TemplateErrorKind.EMPTY_FALLBACK, 0, "first_name", id="empty fallback"
        ),
        pytest.param(
            "{{first_name| }}", TemplateErrorKind.EMPTY_FALLBACK, 0, "first_name", id="blank fallback"
        ),
        pytest.param(
            "ok {{city}} {{nope}}", TemplateErrorKind.UNKNOWN_VARIABLE, 12, "nope", id="second variable"
        ),
    ],
)
def test_a_malformed_template_is_refused_naming_the_place(
    text: str, kind: TemplateErrorKind, position: int, variable: str | None
) -> None:
    for parse in (parse_body, parse_subject):
        with pytest.raises(TemplateError) as refused:
            parse(text)
        assert (refused.value.kind, refused.value.position, refused.value.variable) == (
            kind,
            position,
            variable,
        )
        assert f"at position {position}" in str(refused.value)


def test_an_unknown_variable_suggests_the_closest_name() -> None:
    with pytest.raises(TemplateError, match="did you mean 'first_name'"):
        parse_body("{{frist_name}}")


@pytest.mark.parametrize(
    ("text", "position"),
    [("Hello\nBcc: x@y.cz", 5), ("a\rb", 1), ("{{first_name|a\r\nb}}", 14), ("x\u2028y", 1)],
)
def test_a_subject_with_a_line_break_is_refused(text: str, position: int) -> None:
    with pytest.raises(TemplateError) as refused:
        parse_subject(text)
    assert (refused.value.kind, refused.value.position) == (TemplateErrorKind.LINE_BREAK, position)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", ("plain",)),
        ("{{first_name}}", (Variable("first_name", None),)),
        ("{{  first_name  |  there  }}", (Variable("first_name", "there"),)),
        ("{{first_name|dear friend}}", (Variable("first_name", "dear friend"),)),
        ("{{custom.Job Title}}", (Variable("custom.Job Title", None),)),
        ("{{ custom. Job Title |x}}", (Variable("custom.Job Title", "x"),)),
        ("{{city|a|b}}", (Variable("city", "a|b"),)),
        ("{{{{", ("{{",)),
        ("}}}}", ("}}",)),
        ("{ } {x} }", ("{ } {x} }",)),
        ("{{{first_name}}}", ("{", Variable("first_name", None), "}")),
        ("{{{{{{city}}", ("{{", Variable("city", None))),
        ("{{{{{{{city}}", ("{{{", Variable("city", None))),
        ("{{{{{", ("{{{",)),
    ],
)
def test_a_template_parses_into_literals_and_variables(text: str, parts: tuple[str | Variable, ...]) -> None:
    assert parse_body(text).parts == parts


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("Hi {{first_name}},", "Hi Jan,"),
        ("Hi {{ first_name | there }},", "Hi Jan,"),
        ("{{company_name}} in {{city|your city}}", "Acme s.r.o. in your city"),
        ("{{phone|no phone}}", "no phone"),
        ("{{custom.Job Title}} at {{company_name}}", "CTO at Acme s.r.o."),
        ("{{custom.Region}}", "Morava"),
        ("{{custom.empty|n/a}} {{custom.absent|n/a}}", "n/a n/a"),
        ("{{email}}", "jan@acme.cz"),
        ("literal {{{{first_name}}}}", "literal {{first_name}}"),
    ],
)
def test_rendering_uses_the_lead_then_the_fallback(text: str, rendered: str) -> None:
    assert parse_body(text).render(JAN) == rendered
    assert parse_subject(text).render(JAN) == rendered


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("Hi {{phone}}", ("phone",)),
        ("{{city}}", ("city",)),
        ("{{custom.empty}} {{custom.absent}} {{custom.empty}}", ("custom.empty", "custom.absent")),
        ("{{industry}} {{website|x}} {{phone}}", ("industry", "phone")),
        ("{{custom.job title}}", ("custom.job title",)),
    ],
)
def test_a_missing_value_without_fallback_is_not_sendable_naming_every_variable(
    text: str, missing: tuple[str, ...]
) -> None:
    result = parse_body(text).render(JAN)
    assert result == NotSendable(missing)
    assert isinstance(result, NotSendable)
    assert result.reason == "not sendable: missing " + ", ".join(missing)


def test_values_come_from_an_imported_lead() -> None:
    lead = ImportedLead(
        lead_id=uuid.uuid4(), email="eva@b.cz", row=1, first_name="Eva", custom={"Role": "CEO"}
    )
    assert (
        parse_body("{{first_name}}, {{custom.Role}}, {{email}}").render(LeadValues.of(lead))
        == "Eva, CEO, eva@b.cz"
    )


@pytest.mark.parametrize(
    ("value", "subject", "body"),
    [
        ("Acme\r\nBcc: victim@x.cz", "Acme Bcc: victim@x.cz", "Acme\r\nBcc: victim@x.cz"),
        ("a \n\n b", "a b", "a \n\n b"),
        ("a\u2028b\x85c", "a b c", "a\u2028b\x85c"),
        ("\r\nAcme\r\n", "Acme", "Acme"),
    ],
)
def test_a_value_cannot_add_a_header_line_to_a_subject(value: str, subject: str, body: str) -> None:
    values = LeadValues({"company_name": value}, {})
    assert parse_subject("{{company_name}}").render(values) == subject
    assert parse_body("{{company_name}}").render(values) == body


# Braces weighted in: they are what the escaping rules are about.
literal_text = st.lists(
    st.one_of(st.sampled_from("{}| "), st.characters(codec="utf-8", blacklist_characters="\x00")),
    max_size=12,
).map("".join)
field_names = st.sampled_from(FIELDS)
# Words joined by single spaces: no surrounding whitespace by construction (a filter would reject so many
# draws that hypothesis's too-slow health check fails the test on a loaded machine).
word = st.text(st.characters(blacklist_categories=("Cs", "Z", "Cc")), min_size=1, max_size=6)
values = st.lists(word, min_size=1, max_size=3).map(" ".join)
columns = st.lists(
    st.text(
        st.characters(blacklist_characters="{}|", blacklist_categories=("Cs", "Z", "Cc")),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=2,
).map(" ".join)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, str, LeadValues]:
    """A template of literal text and known variables, a lead with every value, and the expected text."""
    source: list[str] = []
    expected: list[str] = []
    fields: dict[str, str] = {}
    custom: dict[str, str] = {}
    pending = ""  # literal text is escaped as a whole: two escaped halves could meet as "{" "{"
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["literal", "field", "custom"]))
        if kind == "literal":
            pending += draw(literal_text)
            continue
        source.append(escape_literal(pending))
        expected.append(pending)
        pending = ""
        space = draw(st.sampled_from(["", " "]))
        if kind == "field":
            name = draw(field_names)
            value = fields.setdefault(name, draw(values))
            source.append(f"{{{{{space}{name}{space}}}}}")
        else:
            column = draw(columns)
            value = custom.setdefault(column, draw(values))
            source.append(f"{{{{{space}custom.{column}{space}}}}}")
        expected.append(value)
    source.append(escape_literal(pending))
    expected.append(pending)
    return "".join(source), "".join(expected), LeadValues(fields, custom)


@given(templates())
def test_a_template_of_literals_and_known_variables_renders_their_concatenation(
    case: tuple[str, str, LeadValues],
) -> None:
    source, expected, lead = case
    assert parse_body(source).render(lead) == expected


@given(literal_text)
def test_an_escaped_literal_renders_as_itself(text: str) -> None:
    assert parse_body(escape_literal(text)).render(LeadValues({}, {})) == text


@given(st.lists(field_names, min_size=1), values)
def test_rendering_never_emits_a_known_variable(names: list[str], value: str) -> None:
    source = " ".join(f"{{{{{name}}}}}" for name in names)
    rendered = parse_body(source).render(LeadValues(dict.fromkeys(names, value.replace("{", "(")), {}))
    assert isinstance(rendered, str)
    assert not any(f"{{{{{name}}}}}" in rendered for name in FIELDS)


@given(st.sampled_from(FIELDS), st.sampled_from(FIELDS), literal_text, literal_text)
def test_a_value_holding_a_variable_is_not_expanded_again(
    outer: str, inner: str, before: str, after: str
) -> None:
    value = f"{before}{{{{{inner}}}}}{after}".strip() or "x"
    lead = LeadValues({outer: value, inner: "SECRET"} if inner != outer else {outer: value}, {})
    assert parse_body(f"{{{{{outer}}}}}").render(lead) == value
