"""The classifier over a corpus of our own (`tests/corpus/inbox/`): bounces and delays shaped after what
RFC 3464 and each MTA document (Postfix, Exim, Sendmail, qmail, Exchange / Office 365, Gmail, Seznam and
others), auto-replies in English, Czech and German with and without their headers, people's replies that
quote and that top-post, and challenges. Each file's expected kind, failed address, linked Message-ID and
status are in its folder's `expected.json` (and, where listed, the return date and the conversation its
Thread-Index names)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.inbox.classify import KINDS, classify

CORPUS = Path(__file__).parents[2] / "corpus" / "inbox"


def _cases() -> list[tuple[Path, dict[str, Any]]]:
    cases = []
    for manifest in sorted(CORPUS.glob("*/expected.json")):
        for name, expected in sorted(json.loads(manifest.read_text(encoding="utf-8")).items()):
            cases.append((manifest.parent / name, expected))
    return cases


CASES = _cases()


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 100
    kinds = Counter(expected["kind"] for _, expected in CASES)
    assert set(kinds) == set(KINDS), kinds
    listed = {path for path, _ in CASES}
    on_disk = set(CORPUS.glob("*/*.eml"))
    assert listed == on_disk, f"not listed: {on_disk - listed}; missing: {listed - on_disk}"


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[f"{p.parent.name}/{p.name}" for p, _ in CASES])
def test_each_message_is_classified_as_expected(path: Path, expected: dict[str, Any]) -> None:
    got = classify(path.read_bytes())
    assert got.kind == expected["kind"], f"{expected.get('note')} (rule {got.rule})"
    assert got.rule
    assert _lower(got.bounced_recipient) == _lower(expected.get("bounced_recipient"))
    assert got.in_reply_to == expected.get("in_reply_to")
    assert got.status == expected.get("status")
    if "return_date" in expected:
        assert (got.return_date.isoformat() if got.return_date else None) == expected["return_date"]
    if "conversation" in expected:
        assert (str(got.conversation) if got.conversation else None) == expected["conversation"]


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None
