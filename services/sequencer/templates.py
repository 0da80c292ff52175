"""The template language of a step's subject and body: parsed once, rendered per lead. Pure, no I/O.

`{{first_name}}`, `{{company_name}}`, any other imported field (`ImportedLead`'s text fields) and
`{{custom.<column>}}` are variables; `{{first_name|there}}` has a fallback; whitespace inside the braces is
ignored. Braces come in runs: in a run of `{`, each `{{{{` stands for a literal `{{`, and of what is left a
single `{` is literal and `{{` opens a variable (`{{{x}}` is a literal `{` then the variable x). A run of `}`
outside a variable is the same, except that what is left may not be `}}`: a stray `}}` is refused, as an
unclosed `{{` is. `escape_literal` writes any text so that it renders as itself.

A small hand parser rather than Jinja2: Jinja2 parses a far larger language (expressions, filters,
attribute access, statements) that would have to be disabled piece by piece, and its undefined handling
cannot say "missing first_name" for one lead while refusing `frist_name` for every lead at save time.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from contracts import ImportedLead

# The imported fields a template may name: ImportedLead's text fields (not its id, row number or `custom`).
FIELDS: tuple[str, ...] = tuple(
    name for name in ImportedLead.model_fields if name not in {"lead_id", "row", "custom"}
)
CUSTOM_PREFIX = "custom."

# Every character `str.splitlines` breaks at: each could end a header line somewhere along the way.
_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"[{_LINE_BREAKS}]")
_FOLD = re.compile(f"[ \t]*(?:[{_LINE_BREAKS}][ \t]*)+")


class TemplateErrorKind(StrEnum):
    UNCLOSED = "unclosed"
    STRAY_CLOSE = "stray_close"
    NESTED_BRACE = "nested_brace"
    EMPTY_NAME = "empty_name"
    EMPTY_COLUMN = "empty_column"
    EMPTY_FALLBACK = "empty_fallback"
    UNKNOWN_VARIABLE = "unknown_variable"
    LINE_BREAK = "line_break"


class TemplateError(ValueError):
    """A template refused at save time: what is wrong, where (0-based character offset into the template)
    and, when one is involved, the variable."""

    def __init__(self, kind: TemplateErrorKind, position: int, message: str, variable: str | None = None):
        super().__init__(f"{message} at position {position}")
        self.kind = kind
        self.position = position
        self.variable = variable


@dataclass(frozen=True)
class Variable:
    name: str  # "first_name", or "custom.<column>" with the column as written, surrounding spaces dropped
    fallback: str | None


@dataclass(frozen=True)
class NotSendable:
    """A lead that lacks a value for variables without a fallback: it is flagged, never sent with a blank."""

    missing: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "not sendable: missing " + ", ".join(self.missing)


@dataclass(frozen=True)
class LeadValues:
    """What a lead gives a template: its imported fields and its custom columns."""

    fields: Mapping[str, str | None]
    custom: Mapping[str, str]

    @classmethod
    def of(cls, lead: ImportedLead) -> LeadValues:
        return cls({name: getattr(lead, name) for name in FIELDS}, lead.custom)

    def get(self, name: str) -> str | None:
        if not name.startswith(CUSTOM_PREFIX):
            return self.fields.get(name)
        column = name[len(CUSTOM_PREFIX) :]
        if column in self.custom:
            return self.custom[column]
        # A header is kept as the file spelled it, spaces around it included; the template cannot write
        # those (they are stripped inside the braces), so such a header is matched without them.
        return next((value for header, value in self.custom.items() if header.strip() == column), None)


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Variable, ...]
    one_line: bool  # a subject: no line break in the template, and a value's line breaks fold to a space

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(part for part in self.parts if isinstance(part, Variable))

    def render(self, values: LeadValues) -> str | NotSendable:
        """The text for this lead, or every variable it lacks. A value is used without its surrounding
        whitespace and never parsed again, so `{{x}}` inside a lead's data stays as written."""
        out: list[str] = []
        missing: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = (values.get(part.name) or "").strip()
            if not value:
                if part.fallback is None:
                    if part.name not in missing:
                        missing.append(part.name)
                    continue
                value = part.fallback
            elif self.one_line:
                value = _FOLD.sub(" ", value)
            out.append(value)
        return NotSendable(tuple(missing)) if missing else "".join(out)


def parse_subject(text: str) -> Template:
    """A subject is one header line: a line break in it is refused, and values' line breaks are folded
    into a space when rendered, so a lead's data cannot add a header."""
    found = _LINE_BREAK.search(text)
    if found is not None:
        raise TemplateError(
            TemplateErrorKind.LINE_BREAK, found.start(), "a subject cannot contain a line break"
        )
    return Template(text, _parse(text), one_line=True)


def parse_body(text: str) -> Template:
    """A body keeps its line breaks and those of the values put into it."""
    return Template(text, _parse(text), one_line=False)


def escape_literal(text: str) -> str:
    """`text` written so that a template renders it as itself, also right before or after a variable."""
    return re.sub(r"\{+|\}+", lambda run: _escape_run(run.group()), text)


def _escape_run(run: str) -> str:
    pairs, odd = divmod(len(run), 2)
    return run[0] * (4 * pairs + odd)


def _parse(text: str) -> tuple[str | Variable, ...]:
    parts: list[str | Variable] = []
    literal: list[str] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char not in "{}":
            following = [p for p in (text.find("{", i), text.find("}", i)) if p >= 0]
            stop = min(following, default=end)
            literal.append(text[i:stop])
            i = stop
            continue
        run_end = i
        while run_end < end and text[run_end] == char:
            run_end += 1
        quads, rest = divmod(run_end - i, 4)
        literal.append(char * (2 * quads + rest % 2))
        if rest < 2:
            i = run_end
            continue
        opener = run_end - 2
        if char == "}":
            raise TemplateError(
                TemplateErrorKind.STRAY_CLOSE,
                opener,
                "'}}' closes no variable (write '}}}}' for a literal '}}')",
            )
        close = text.find("}}", run_end)
        if close < 0:
            raise TemplateError(
                TemplateErrorKind.UNCLOSED, opener, "'{{' is never closed (write '{{{{' for a literal '{{')"
            )
        if literal:
            parts.append("".join(literal))
            literal.clear()
        parts.append(_variable(text[run_end:close], run_end, opener))
        i = close + 2
    if literal:
        parts.append("".join(literal))
    return tuple(part for part in parts if part != "")


def _variable(content: str, start: int, opener: int) -> Variable:
    brace = re.search(r"[{}]", content)
    if brace is not None:
        raise TemplateError(
            TemplateErrorKind.NESTED_BRACE,
            start + brace.start(),
            "a brace inside '{{ }}' (variables do not nest)",
        )
    name_part, bar, fallback_part = content.partition("|")
    name = name_part.strip()
    fallback = fallback_part.strip() if bar else None
    if not name:
        raise TemplateError(TemplateErrorKind.EMPTY_NAME, opener, "'{{ }}' names no variable")
    if fallback == "":
        raise TemplateError(
            TemplateErrorKind.EMPTY_FALLBACK,
            opener,
            f"the fallback of '{name}' is empty (leave out the '|' to require the value)",
            name,
        )
    if name.startswith(CUSTOM_PREFIX) or name == CUSTOM_PREFIX.rstrip("."):
        column = name[len(CUSTOM_PREFIX) :].strip()
        if not column:
            raise TemplateError(
                TemplateErrorKind.EMPTY_COLUMN,
                opener,
                "'custom.' names no column ({{custom.<column>}})",
                name,
            )
        return Variable(CUSTOM_PREFIX + column, fallback)
    if name not in FIELDS:
        close = difflib.get_close_matches(name, FIELDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(FIELDS) + ", custom.<column>"
        raise TemplateError(
            TemplateErrorKind.UNKNOWN_VARIABLE, opener, f"unknown variable '{name}' ({hint})", name
        )
    return Variable(name, fallback)
