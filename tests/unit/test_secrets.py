"""LEADFLOW_SECRET_KEY: parsing, per-purpose keys, encryption of mailbox passwords and its rotation."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from services.runtime.secrets import (
    MAILBOX_PASSWORDS,
    MIN_SECRET_LENGTH,
    NotDecryptable,
    SecretKeyInvalid,
    SecretKeyMissing,
    Secrets,
    derive_key,
    new_secret_key,
    parse_secret_keys,
)
from services.runtime.settings import Settings
from services.runtime.unsubscribe_tokens import UNSUBSCRIBE

OLD = "o" * MIN_SECRET_LENGTH
NEW = "n" * MIN_SECRET_LENGTH


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        (OLD, (OLD,)),
        (f" {NEW} , {OLD} ", (NEW, OLD)),
        (f"{NEW},{OLD}\n", (NEW, OLD)),
    ],
)
def test_a_setting_lists_its_secrets_current_first(value: str, keys: tuple[str, ...]) -> None:
    assert parse_secret_keys(value) == keys


@pytest.mark.parametrize(
    ("value", "error", "says"),
    [
        ("", SecretKeyMissing, "leadflow secret-key"),
        ("  ", SecretKeyMissing, "LEADFLOW_SECRET_KEY is not set"),
        ("x" * (MIN_SECRET_LENGTH - 1), SecretKeyInvalid, f"fewer than {MIN_SECRET_LENGTH}"),
        (f"{NEW},,{OLD}", SecretKeyInvalid, "empty entry (number 2)"),
        (f"{NEW},", SecretKeyInvalid, "empty entry"),
        (f"{NEW},{NEW}", SecretKeyInvalid, "the same secret twice"),
    ],
)
def test_an_unusable_setting_is_refused_saying_why(value: str, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=re.escape(says)):
        parse_secret_keys(value)


def test_settings_without_a_key_say_how_to_set_one() -> None:
    with pytest.raises(SecretKeyMissing, match="`leadflow up` creates one"):
        Secrets.from_settings(Settings(secret_key=None))


def test_settings_with_a_key_encrypt() -> None:
    secrets = Secrets.from_settings(Settings(secret_key=SecretStr(f"{NEW},{OLD}")))
    assert secrets.decrypt(secrets.encrypt("hunter2")) == "hunter2"
    assert NEW not in repr(secrets)


def test_each_purpose_has_its_own_key_and_each_secret_its_own_keys() -> None:
    keys = {
        derive_key(secret, purpose) for secret in (OLD, NEW) for purpose in (MAILBOX_PASSWORDS, UNSUBSCRIBE)
    }
    assert len(keys) == 4
    assert all(len(key) == 32 for key in keys)
    assert derive_key(NEW, UNSUBSCRIBE) == derive_key(NEW, UNSUBSCRIBE)


def test_new_secret_keys_are_usable_and_different() -> None:
    made = {new_secret_key() for _ in range(20)}
    assert len(made) == 20
    for key in made:
        assert parse_secret_keys(key) == (key,)


@given(st.text())
def test_encryption_round_trips_any_text(text: str) -> None:
    secrets = Secrets([NEW])
    token = secrets.encrypt(text)
    assert secrets.decrypt(token) == text


def test_the_same_text_encrypts_differently_each_time() -> None:
    secrets = Secrets([NEW])
    assert secrets.encrypt("hunter2") != secrets.encrypt("hunter2")


def test_after_a_rotation_old_ciphertexts_decrypt_and_rotate_to_the_new_key() -> None:
    before = Secrets([OLD])
    during = Secrets([NEW, OLD])
    after = Secrets([NEW])
    old_token = before.encrypt("hunter2")
    assert during.decrypt(old_token) == "hunter2"
    with pytest.raises(NotDecryptable):
        after.decrypt(old_token)
    rotated = during.rotate(old_token)
    assert after.decrypt(rotated) == "hunter2"
    # What `during` encrypts, `after` reads: the new secret is the current one.
    assert after.decrypt(during.encrypt("s3cret")) == "s3cret"


@pytest.mark.parametrize(
    "token",
    ["", "not a token", "gAAAAA", "é"],
    ids=["empty", "text", "truncated header", "non-ascii"],
)
def test_what_no_key_decrypts_is_refused_in_words(token: str) -> None:
    secrets = Secrets([NEW, OLD])
    with pytest.raises(NotDecryptable, match="re-enter the password"):
        secrets.decrypt(token)
    with pytest.raises(NotDecryptable):
        secrets.rotate(token)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_ciphertext_altered_in_any_byte_is_refused(position: int, flip: int) -> None:
    secrets = Secrets([NEW])
    raw = bytearray(base64.urlsafe_b64decode(secrets.encrypt("hunter2")))
    raw[position % len(raw)] ^= flip
    with pytest.raises(NotDecryptable):
        secrets.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode("ascii"))
