"""The workspace-wide secret `LEADFLOW_SECRET_KEY`, and what it protects.

One secret serves several purposes, each with a key of its own derived by HKDF-SHA256 (the `info` names the
purpose), so a key exposed in one use tells nothing about another. The setting may hold several secrets,
comma-separated, for rotation: the first is current (it encrypts and signs), the others still decrypt and
verify. docs/security.md says how to rotate.

Mailbox passwords are encrypted at rest with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`);
`leadflow up` keeps a secret in its data folder (`load_or_create_secret_key`), created once, 0600.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .bus_users import write_private
from .settings import Settings

__all__ = [
    "MAILBOX_PASSWORDS",
    "MIN_SECRET_LENGTH",
    "SECRET_KEY_ENV",
    "SECRET_KEY_FILE",
    "SECRET_KEY_SECRET",
    "SECRET_KEY_SECRET_KEY",
    "NotDecryptable",
    "SecretKeyError",
    "SecretKeyInvalid",
    "SecretKeyMissing",
    "Secrets",
    "derive_key",
    "kubernetes_secret",
    "load_or_create_secret_key",
    "new_secret_key",
    "parse_secret_keys",
]

SECRET_KEY_ENV = "LEADFLOW_SECRET_KEY"
# The file in `leadflow up`'s data folder that holds the secret (the same text as the setting).
SECRET_KEY_FILE = "secret-key"
# A secret shorter than this is refused: `new_secret_key` makes 43 characters (256 random bits).
MIN_SECRET_LENGTH = 32
MAILBOX_PASSWORDS = b"leadflow mailbox passwords"
# On Kubernetes: the Secret and its key that the Deployments' LEADFLOW_SECRET_KEY reads (secretKeyRef).
SECRET_KEY_SECRET = "leadflow-secret-key"
SECRET_KEY_SECRET_KEY = "secret-key"

_HOW_TO_SET = (
    f"`leadflow up` creates one in its data folder ({SECRET_KEY_FILE}); elsewhere set {SECRET_KEY_ENV} "
    f"to a random value of at least {MIN_SECRET_LENGTH} characters (`leadflow secret-key` prints one, "
    "and on Kubernetes the Secret leadflow-secret-key holds it; see docs/security.md)"
)


class SecretKeyError(Exception):
    """The secret key is missing or unusable; the message says how to set it."""


class SecretKeyMissing(SecretKeyError):
    def __init__(self) -> None:
        super().__init__(f"{SECRET_KEY_ENV} is not set: {_HOW_TO_SET}")


class SecretKeyInvalid(SecretKeyError):
    pass


class NotDecryptable(Exception):
    """A ciphertext that none of the configured keys decrypts: altered, or encrypted under a key that was
    dropped from LEADFLOW_SECRET_KEY."""


def new_secret_key() -> str:
    """A fresh secret: 256 random bits, URL-safe text (no comma, so it fits in a list of keys)."""
    return secrets.token_urlsafe(32)


def parse_secret_keys(value: str) -> tuple[str, ...]:
    """The secrets of a `LEADFLOW_SECRET_KEY` value, current first; raises `SecretKeyInvalid`."""
    keys = tuple(part.strip() for part in value.split(","))
    if keys == ("",):
        raise SecretKeyMissing
    for position, key in enumerate(keys, start=1):
        if not key:
            raise SecretKeyInvalid(
                f"{SECRET_KEY_ENV} has an empty entry (number {position}): give the secrets comma-separated, "
                "the current one first"
            )
        if len(key) < MIN_SECRET_LENGTH:
            raise SecretKeyInvalid(
                f"{SECRET_KEY_ENV}'s entry number {position} has {len(key)} characters, fewer than "
                f"{MIN_SECRET_LENGTH}: {_HOW_TO_SET}"
            )
    if len(set(keys)) != len(keys):
        raise SecretKeyInvalid(f"{SECRET_KEY_ENV} names the same secret twice")
    return keys


def derive_key(secret: str, purpose: bytes, length: int = 32) -> bytes:
    """The key of one `purpose` (HKDF-SHA256's `info`) derived from `secret`."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(
        secret.encode("utf-8")
    )


class Secrets:
    """The configured secrets, current first, and the encryption of mailbox passwords under them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyMissing
        self._keys = tuple(keys)
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive_key(key, MAILBOX_PASSWORDS))) for key in self._keys]
        )

    @classmethod
    def from_value(cls, value: str) -> Secrets:
        """From the text of `LEADFLOW_SECRET_KEY` (comma-separated secrets, the current one first)."""
        return cls(parse_secret_keys(value))

    @classmethod
    def from_settings(cls, settings: Settings) -> Secrets:
        """From `settings.secret_key`; raises `SecretKeyMissing` (saying how to set it) when unset."""
        if settings.secret_key is None:
            raise SecretKeyMissing
        return cls.from_value(settings.secret_key.get_secret_value())

    def __repr__(self) -> str:
        return f"Secrets(<{len(self._keys)} keys>)"

    def derived_keys(self, purpose: bytes) -> tuple[bytes, ...]:
        """The key of `purpose` under each configured secret, the current secret's first."""
        return tuple(derive_key(key, purpose) for key in self._keys)

    def encrypt(self, text: str) -> str:
        """`text` encrypted under the current secret: a Fernet token (URL-safe ASCII)."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text of a token made by `encrypt` under any configured secret; raises `NotDecryptable`."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise NotDecryptable(_NOT_DECRYPTABLE) from exc

    def rotate(self, token: str) -> str:
        """The same text encrypted under the current secret (a token made under an older one, re-made)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise NotDecryptable(_NOT_DECRYPTABLE) from exc


_NOT_DECRYPTABLE = (
    f"no secret in {SECRET_KEY_ENV} decrypts this value: it was altered, or encrypted under a secret "
    "since removed from the setting (re-enter the password)"
)


def load_or_create_secret_key(path: Path) -> str:
    """The secret kept in `path`, created there (0600) on first use and then reused.

    The file holds what `LEADFLOW_SECRET_KEY` would (a rotation in progress lists several, comma-separated);
    one readable by others (copied in by hand, say) is made private again.
    """
    if not path.exists():
        write_private(path, new_secret_key() + "\n")
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        with contextlib.suppress(OSError):
            path.chmod(0o600)
    value = path.read_text(encoding="utf-8").strip()
    try:
        parse_secret_keys(value)
    except SecretKeyError as exc:
        raise SecretKeyInvalid(f"{path}: {exc}") from None
    return value


def kubernetes_secret(value: str, namespace: str) -> str:
    """The Secret `leadflow-secret-key` holding `value` (what LEADFLOW_SECRET_KEY holds), as YAML."""
    parse_secret_keys(value)
    lines = [
        "# Leadflow's secret key: encrypts mailbox passwords, signs unsubscribe links (docs/security.md).",
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        f"  name: {SECRET_KEY_SECRET}",
        f"  namespace: {namespace}",
        "  labels:",
        "    app.kubernetes.io/part-of: leadflow",
        "type: Opaque",
        "stringData:",
        # A JSON string is a YAML double-quoted scalar: nothing in it is read as YAML.
        f"  {SECRET_KEY_SECRET_KEY}: {json.dumps(value)}",
    ]
    return "\n".join(lines) + "\n"
