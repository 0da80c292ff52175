"""Text from outside: one check for every text field of the API and of every command. Pure.

PostgreSQL's `text` cannot hold NUL (U+0000), and a lone surrogate half (U+D800 to U+DFFF, which JSON's
`\\ud800` escape produces) is not a character at all: it cannot be encoded as UTF-8, so it fails wherever
it is stored, sent or even echoed back. Both are refused where text enters — the gateway's parameters and
bodies, and each service's commands, so a service refuses such input itself too — never deep in a query.

Use `Text` for every `str` a client or another process supplies (`list[Text]`, `dict[Text, Text]`, and
`name: Text = Field(max_length=…)` as usual), and `MaybeText` for an optional one (`MaybeText =
Field(default=None, max_length=…)`): with `Text | None` pydantic could apply the bound only after the check,
and would say "at most N items after validation" instead of "at most N characters". For the same reason a
FastAPI parameter with a bound carries it inside: `Annotated[str, StringConstraints(max_length=N),
SAFE_TEXT]`. `check_text` is for text decoded from something else (a cursor, a JSON form field). A test
walks every route and every command and fails on a `str` without the check.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


def check_text(value: str) -> str:
    """`value` itself, or ValueError saying what it holds that text may not, and where."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return value
    position, char = found.start(), found.group()
    if char == "\x00":
        raise ValueError(f"contains the NUL character (\\u0000) at position {position}; text cannot hold it")
    raise ValueError(
        f"contains a lone surrogate (\\u{ord(char):04x}) at position {position}, which is not a "
        "character; send text as UTF-8"
    )


SAFE_TEXT = AfterValidator(check_text)

# Annotate with these, never with plain `str`, wherever text comes in.
Text = Annotated[str, SAFE_TEXT]


def _check_maybe_text(value: str | None) -> str | None:
    return None if value is None else check_text(value)


SAFE_MAYBE_TEXT = AfterValidator(_check_maybe_text)
MaybeText = Annotated[str | None, SAFE_MAYBE_TEXT]


def is_safe_text(value: str) -> bool:
    return _FORBIDDEN.search(value) is None


def json_safe(value: object) -> object:
    """`value` (JSON-like: dicts, lists, strings, …) with every lone surrogate written as its escape
    (`\\ud800`), so an error that echoes a client's input can itself be encoded as UTF-8."""
    if isinstance(value, str):
        return value if is_safe_text(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
