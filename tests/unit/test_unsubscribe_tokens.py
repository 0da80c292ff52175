"""Unsubscribe tokens: what they carry, what they refuse, and that rotation keeps sent links working."""

from __future__ import annotations

import base64
import string
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.secrets import MIN_SECRET_LENGTH, Secrets
from services.runtime.unsubscribe_tokens import BadToken, UnsubscribeTokens

OLD = "o" * MIN_SECRET_LENGTH
NEW = "n" * MIN_SECRET_LENGTH
WORKSPACE = UUID("0b5c1e0a-0000-4000-8000-000000000001")
LEAD = UUID("1ead0000-0000-4000-8000-000000000002")
EMAIL = "ana@firma.cz"
BASE64URL = string.ascii_letters + string.digits + "-_"

tokens = UnsubscribeTokens.from_secrets(Secrets([NEW]))
TOKEN = tokens.make_token(WORKSPACE, LEAD, EMAIL)
addresses = st.emails().map(str)


def test_a_token_is_compact_url_safe_text() -> None:
    assert len(TOKEN) == 64
    assert set(TOKEN) <= set(BASE64URL)


def test_the_address_is_in_the_mac_not_in_the_token() -> None:
    raw = base64.urlsafe_b64decode(TOKEN)
    assert EMAIL.encode() not in raw and b"firma" not in raw
    assert raw[:32] == WORKSPACE.bytes + LEAD.bytes


@given(st.uuids(), st.uuids(), addresses)
def test_a_token_round_trips_its_ids_and_verifies_for_its_address(
    workspace_id: UUID, lead_id: UUID, email: str
) -> None:
    token = tokens.make_token(workspace_id, lead_id, email)
    assert tokens.read_token(token) == (workspace_id, lead_id)
    assert tokens.verify(token, email)


@pytest.mark.parametrize(
    ("address", "verifies"),
    [
        (EMAIL, True),
        ("Ana@Firma.CZ", True),  # the normalised address is signed: case does not matter
        (" ana@firma.cz\n", True),
        ("ana@firma.com", False),
        ("bob@firma.cz", False),
        ("ana@firma.cz.", False),
        ("", False),
    ],
)
def test_a_token_verifies_only_for_the_address_it_was_made_for(address: str, verifies: bool) -> None:
    assert tokens.verify(TOKEN, address) is verifies


@given(addresses, addresses)
def test_a_token_for_another_address_does_not_verify(email: str, other: str) -> None:
    token = tokens.make_token(WORKSPACE, LEAD, email)
    assert tokens.verify(token, other) is (email.strip().lower() == other.strip().lower())


def test_a_token_names_its_lead_and_workspace_in_the_mac() -> None:
    # Another lead's (or workspace's) ids with this token's MAC do not verify, for the same address.
    raw = base64.urlsafe_b64decode(TOKEN)
    for ids in (WORKSPACE.bytes + uuid4().bytes, uuid4().bytes + LEAD.bytes, LEAD.bytes + WORKSPACE.bytes):
        forged = base64.urlsafe_b64encode(ids + raw[32:]).rstrip(b"=").decode()
        assert not tokens.verify(forged, EMAIL)


@pytest.mark.parametrize(
    "token",
    [
        "",
        TOKEN[:-1],
        TOKEN + "A",
        TOKEN + "AAAA",
        TOKEN + "=",
        TOKEN + "==",
        TOKEN[:32] + " " + TOKEN[33:],
        TOKEN[:10] + "+" + TOKEN[11:],  # standard base64's alphabet, not base64url's
        TOKEN[:10] + "/" + TOKEN[11:],
        TOKEN[:10] + "é" + TOKEN[11:],
        "A" * 63,
        "A" * 65,
        base64.urlsafe_b64encode(b"\0" * 47).decode(),
        base64.urlsafe_b64encode(b"\0" * 49).decode().rstrip("="),
    ],
    ids=[
        "empty",
        "truncated",
        "extended by one",
        "extended by four",
        "padded",
        "padded twice",
        "a space",
        "a plus",
        "a slash",
        "non-ascii",
        "63 characters",
        "65 characters",
        "47 bytes",
        "49 bytes",
    ],
)
def test_a_malformed_token_is_bad_and_does_not_verify(token: str) -> None:
    with pytest.raises(BadToken):
        tokens.read_token(token)
    assert not tokens.verify(token, EMAIL)


@given(st.integers(min_value=0, max_value=63), st.sampled_from(BASE64URL))
def test_any_single_character_change_is_refused(position: int, replacement: str) -> None:
    if TOKEN[position] == replacement:
        return
    altered = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    assert not tokens.verify(altered, EMAIL)


@given(st.integers(min_value=0, max_value=63))
def test_any_truncation_is_refused(length: int) -> None:
    assert not tokens.verify(TOKEN[:length], EMAIL)
    with pytest.raises(BadToken):
        tokens.read_token(TOKEN[:length])


@given(st.text(alphabet=BASE64URL + "=.~ ", min_size=1, max_size=8))
def test_any_extension_is_refused(tail: str) -> None:
    assert not tokens.verify(TOKEN + tail, EMAIL)
    with pytest.raises(BadToken):
        tokens.read_token(TOKEN + tail)


def test_a_token_made_with_an_old_key_still_verifies_after_rotation() -> None:
    before = UnsubscribeTokens.from_secrets(Secrets([OLD]))
    during = UnsubscribeTokens.from_secrets(Secrets([NEW, OLD]))
    after = UnsubscribeTokens.from_secrets(Secrets([NEW]))
    sent_before = before.make_token(WORKSPACE, LEAD, EMAIL)
    assert during.verify(sent_before, EMAIL)
    assert not during.verify(sent_before, "bob@firma.cz")
    # New links are signed with the new secret: they outlive the old one.
    sent_during = during.make_token(WORKSPACE, LEAD, EMAIL)
    assert sent_during == after.make_token(WORKSPACE, LEAD, EMAIL)
    assert after.verify(sent_during, EMAIL)
    # Once the old secret is dropped, its links stop verifying.
    assert not after.verify(sent_before, EMAIL)


def test_a_token_from_another_installation_does_not_verify() -> None:
    elsewhere = UnsubscribeTokens.from_secrets(Secrets(["e" * MIN_SECRET_LENGTH]))
    assert not tokens.verify(elsewhere.make_token(WORKSPACE, LEAD, EMAIL), EMAIL)


def test_the_token_key_differs_from_the_encryption_key() -> None:
    secrets = Secrets([NEW])
    signer = UnsubscribeTokens(secrets.derived_keys(b"leadflow mailbox passwords"))
    assert not tokens.verify(signer.make_token(WORKSPACE, LEAD, EMAIL), EMAIL)
