"""`contracts.text`: the one check of text from outside (no NUL, no lone surrogate)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contracts.text import Text, check_text, is_safe_text, json_safe


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("\x00", "contains the NUL character (\\u0000) at position 0"),
        ("Acme\x00", "contains the NUL character (\\u0000) at position 4"),
        ("\ud800", "contains a lone surrogate (\\ud800) at position 0"),
        ("ab\udfff", "contains a lone surrogate (\\udfff) at position 2"),
        ("x\udc80\x00", "contains a lone surrogate (\\udc80) at position 1"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_saying_what_and_where(value: str, problem: str) -> None:
    with pytest.raises(
        ValueError, match="^" + problem.replace("\\", "\\\\").replace("(", r"\(").replace(")", r"\)")
    ):
        check_text(value)
    assert not is_safe_text(value)


@pytest.mark.parametrize(
    "value",
    ["", " ", "Jiří Čapek", "\U0001f600", "tab\tand\nnewline", "\x01\x7f", "\ufffd", "\uffff", "\u0301"],
)
def test_every_other_text_passes_unchanged(value: str) -> None:
    assert check_text(value) is value
    assert is_safe_text(value)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")))
def test_text_without_nul_or_surrogates_always_passes(value: str) -> None:
    assert check_text(value) == value


@given(st.text(), st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]), st.text())
def test_text_with_nul_or_a_surrogate_anywhere_never_passes(before: str, bad: str, after: str) -> None:
    assert not is_safe_text(before + bad + after)


def test_a_surrogate_pair_in_json_is_one_character_and_passes() -> None:
    decoded = json.loads('"\\ud83d\\ude00"')
    assert decoded == "\U0001f600"
    assert check_text(decoded) == decoded


class _Model(BaseModel):
    name: Text
    tags: list[Text] = []


def test_the_annotated_type_refuses_in_any_position() -> None:
    assert _Model(name="ok", tags=["a"]).tags == ["a"]
    with pytest.raises(ValidationError) as refused:
        _Model(name="ok", tags=["a", "b\x00"])
    assert refused.value.errors()[0]["loc"] == ("tags", 1)
    with pytest.raises(ValidationError):
        _Model.model_validate_json('{"name": "\\ud800"}')


def test_json_safe_escapes_lone_surrogates_anywhere_and_leaves_the_rest() -> None:
    detail = [{"loc": ["body", "name"], "input": {"name": "a\ud800", "\udfffkey": ["\x00", 3]}}]
    safe = json_safe(detail)
    assert safe == [{"loc": ["body", "name"], "input": {"name": "a\\ud800", "\\udfffkey": ["\x00", 3]}}]
    json.dumps(safe, ensure_ascii=False).encode()  # encodable now
