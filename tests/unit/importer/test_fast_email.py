"""The fast path of `normalise_email` agrees with email-validator on everything it accepts."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.importer.domain import _fast_normalise

LOCAL = st.text(alphabet="abcXYZ019.!#$%&'*+/=?^_`{|}~-\"() ,:;<>[]\\é", min_size=0, max_size=12)
LABEL = st.text(alphabet="abzAZ09-_é", min_size=0, max_size=8)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
TLD = st.sampled_from(
    ["cz", "com", "test", "local", "localhost", "invalid", "onion", "arpa", "c", "x1", "1x", "123"]
)


def full_path(value: str) -> str | None:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    email = checked.ascii_email or checked.normalized
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


@settings(max_examples=1500, deadline=None)
@given(LOCAL, DOMAIN, TLD)
@example("a", "b", "cz")
@example("a..b", "x", "cz")
@example(".a", "x", "cz")
@example("a", "-x", "cz")
@example("a", "x-", "cz")
@example("a", "xn--bcher-kva", "de")
@example("a", "ab--cd", "cz")
@example("a" * 65, "x", "cz")
def test_fast_path_accepts_only_what_email_validator_accepts(local: str, domain: str, tld: str) -> None:
    value = f"{local}@{domain}.{tld}"
    fast = _fast_normalise(value)
    if fast is not None:
        assert full_path(value) == fast.email
        assert fast.key == fast.email.lower()


@pytest.mark.parametrize(
    "value",
    ["Jan.Novak@Firma.CZ", "user+tag@mail.example.com", "o'brien@pub.ie", "x@b.c", "a_b-c@sub.domain.co.uk"],
)
def test_fast_path_takes_the_common_addresses(value: str) -> None:
    fast = _fast_normalise(value)
    assert fast is not None and fast.email == full_path(value)


@pytest.mark.parametrize(
    "value", ["é@x.cz", '"quoted"@x.cz', "a@bücher.de", "a@x.test", "a@x.123", "a@x", "a@xn--bcher-kva.de"]
)
def test_unusual_addresses_take_the_full_path(value: str) -> None:
    assert _fast_normalise(value) is None
