"""Signed unsubscribe tokens, the `TOKEN` of `https://…/u/TOKEN` in every message sent.

A token is base64url without padding of 48 bytes: the workspace id (16), the lead id (16) and an
HMAC-SHA256 truncated to 16 bytes (64 characters in all). The MAC covers the two ids and the lead's
address, which the token does not carry: the verifier reads the ids (`read`), looks the lead's address up
and checks the MAC against it (`verify`), so a link forwarded after the lead's address changed, or made
for another address, unsubscribes no one. The MAC key is derived from LEADFLOW_SECRET_KEY (HKDF, its own
`info`), and a MAC made under any configured secret verifies, so links sent before a rotation keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from uuid import UUID

from .secrets import Secrets

__all__ = ["UNSUBSCRIBE", "BadToken", "UnsubscribeTokens", "normalise_address"]

UNSUBSCRIBE = b"leadflow unsubscribe"
_ID = 16
_MAC = 16
_LENGTH = 2 * _ID + _MAC
# The MAC's message starts with a version, so a later format can never be confused with this one.
_VERSION = b"unsubscribe.v1\x00"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class BadToken(ValueError):
    """A string that is not an unsubscribe token (wrong length or alphabet, not canonical base64url)."""


def normalise_address(email: str) -> str:
    """The form of an address the MAC covers: trimmed and lower-cased, as the importer's lead key."""
    return email.strip().lower()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: str) -> bytes:
    # b64decode skips characters outside the alphabet and ignores the unused bits of the last character:
    # both would let an altered token decode to the same bytes, so only the canonical text is accepted.
    if not isinstance(token, str) or not _BASE64URL.fullmatch(token):
        raise BadToken("an unsubscribe token is base64url text")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise BadToken("an unsubscribe token is base64url text") from None
    if len(raw) != _LENGTH or _encode(raw) != token:
        raise BadToken("not an unsubscribe token")
    return raw


class UnsubscribeTokens:
    """Makes and checks unsubscribe tokens with MAC keys derived from the secrets, the current one first."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one MAC key is needed")
        self._keys = tuple(keys)

    @classmethod
    def from_secrets(cls, secrets: Secrets) -> UnsubscribeTokens:
        return cls(secrets.derived_keys(UNSUBSCRIBE))

    def __repr__(self) -> str:
        return f"UnsubscribeTokens(<{len(self._keys)} keys>)"

    @staticmethod
    def _mac(key: bytes, ids: bytes, email: str) -> bytes:
        message = _VERSION + ids + normalise_address(email).encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).digest()[:_MAC]

    def make_token(self, workspace_id: UUID, lead_id: UUID, email: str) -> str:
        """The token of the lead `lead_id` of `workspace_id` whose address is `email`, signed with the
        current secret."""
        ids = workspace_id.bytes + lead_id.bytes
        return _encode(ids + self._mac(self._keys[0], ids, email))

    @staticmethod
    def read_token(token: str) -> tuple[UUID, UUID]:
        """The workspace and lead ids a token names (not yet verified); raises `BadToken`."""
        raw = _decode(token)
        return UUID(bytes=raw[:_ID]), UUID(bytes=raw[_ID : 2 * _ID])

    def verify(self, token: str, email: str) -> bool:
        """Whether `token` was made by a configured secret for its ids and `email` (the lead's address as
        looked up by its ids). Compared in constant time; a malformed token is simply not valid."""
        try:
            raw = _decode(token)
        except BadToken:
            return False
        ids, mac = raw[: 2 * _ID], raw[2 * _ID :]
        # Every key is tried, so the time taken does not tell which secret, if any, matched.
        matches = [hmac.compare_digest(self._mac(key, ids, email), mac) for key in self._keys]
        return any(matches)
