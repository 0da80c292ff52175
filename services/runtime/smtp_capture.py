"""The local SMTP capture server of `leadflow up`: every message it receives is kept, never delivered.

An aiosmtpd server (in a thread of `leadflow up`'s own process) on 127.0.0.1:1025 unless
LEADFLOW_CAPTURE_SMTP says another `host:port`. It accepts AUTH PLAIN and LOGIN with any credentials and
without TLS, so a mailbox set up like a real provider's works against it unchanged, and stores each message
as it came, plus the envelope (`X-MailFrom`, `X-RcptTo`, `X-Peer`, as aiosmtpd's own handlers do), in a
Maildir (the standard library's `mailbox.Maildir`) in the data folder. The gateway reads that folder for the
UI's "Outbox (local)" (LEADFLOW_CAPTURE_DIR).
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

DEFAULT_CAPTURE_HOST = "127.0.0.1"
DEFAULT_CAPTURE_PORT = 1025
# The Maildir's folder in `leadflow up`'s data folder.
CAPTURE_FOLDER = "outbox"
# The dev workspace's mailbox that sends into the capture. Its limits let a walk-through send at once.
CAPTURE_MAILBOX_NAME = "Local capture"
CAPTURE_MAILBOX_EMAIL = "dev@leadflow.example"
CAPTURE_MAILBOX_DAILY_LIMIT = 1000


@dataclass(frozen=True)
class CaptureAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_capture_address(value: str) -> CaptureAddress:
    """`host:port` (LEADFLOW_CAPTURE_SMTP); raises ValueError saying what is wrong."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"LEADFLOW_CAPTURE_SMTP must be host:port, e.g. 127.0.0.1:1025, not {value!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"LEADFLOW_CAPTURE_SMTP's port must be 1 to 65535, not {port}")
    return CaptureAddress(host, port)


def _any_login(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    """Every login succeeds: the capture keeps mail, it guards nothing."""
    return AuthResult(success=True)


class _Keep:
    """aiosmtpd's DATA hook: the message, with its envelope in headers, into the Maildir."""

    def __init__(self, folder: Path) -> None:
        self.maildir = mailbox.Maildir(folder, create=True)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        peer = session.peer
        message["X-Peer"] = str(peer[0] if isinstance(peer, tuple) else peer)
        message["X-MailFrom"] = str(envelope.mail_from or "")
        message["X-RcptTo"] = ", ".join(envelope.rcpt_tos)
        self.maildir.add(mailbox.MaildirMessage(message))
        return "250 Message captured (not delivered)"


class CaptureServer:
    """The server at `address`, keeping messages in the Maildir `folder`; `start` returns once it listens."""

    def __init__(self, address: CaptureAddress, folder: Path) -> None:
        self.address = address
        self.folder = folder
        self._controller = Controller(
            _Keep(folder),
            hostname=address.host,
            port=address.port,
            auth_require_tls=False,
            auth_exclude_mechanism=["CRAM-MD5"],
            authenticator=_any_login,
            server_hostname="leadflow-capture",
            ident="Leadflow local capture",
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def capture_mailbox(address: CaptureAddress) -> dict[str, Any]:
    """The dev mailbox as `POST /api/v1/mailboxes` takes it: the capture's address, a login (any works)."""
    return {
        "email": CAPTURE_MAILBOX_EMAIL,
        "name": CAPTURE_MAILBOX_NAME,
        "smtp": _smtp(address),
        "daily_limit": CAPTURE_MAILBOX_DAILY_LIMIT,
        "min_gap_seconds": 0,
    }


def _smtp(address: CaptureAddress) -> dict[str, Any]:
    return {
        "host": address.host,
        "port": address.port,
        "username": "dev",
        "password": "dev",
        "security": "none",
    }


def mailbox_change(existing: dict[str, Any], address: CaptureAddress) -> dict[str, Any] | None:
    """The PATCH that points an existing dev mailbox at `address` (the capture may have moved to another
    port since the last start), or None when it already does."""
    smtp = existing.get("smtp") or {}
    wanted = _smtp(address)
    if all(smtp.get(key) == wanted[key] for key in ("host", "port", "username", "security")):
        return None
    return {"smtp": wanted}


def ensure_capture_mailbox(gateway_url: str, api_key: str, address: CaptureAddress) -> str:
    """Create the workspace's "Local capture" mailbox, or point the existing one at `address`; its id.

    Through the gateway's API, as any client would: `leadflow up` has no identity on the bus that may
    command the mailer, and the API is the path the UI and its tests use too. Raises httpx.HTTPError.
    """
    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if after:
                params["after"] = after
            page = client.get("/api/v1/mailboxes", params=params).raise_for_status().json()
            for item in page["items"]:
                if item["name"] == CAPTURE_MAILBOX_NAME:
                    change = mailbox_change(item, address)
                    if change is not None:
                        client.patch(f"/api/v1/mailboxes/{item['id']}", json=change).raise_for_status()
                    return str(item["id"])
            after = page.get("next_after")
            if not after:
                break
        created = client.post("/api/v1/mailboxes", json=capture_mailbox(address)).raise_for_status()
        return str(created.json()["id"])
