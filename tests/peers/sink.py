"""A mail sink in a process of its own (`python -m tests.peers.sink PORT FILE`): an aiosmtpd server on
127.0.0.1 that accepts any login and every message, and appends one line per message taken to FILE
(`Message-ID<TAB>recipient`), flushed at once, so a test can count what arrived while the sender is killed
and restarted. It runs until terminated."""

from __future__ import annotations

import email
import signal
import sys
import threading
from email import policy
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session


class _Keep:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(envelope.original_content or b"", policy=policy.default)
        line = "".join(f"{parsed['Message-ID']}\t{to}\n" for to in envelope.rcpt_tos)
        with self._lock:
            self._out.write(line)
            self._out.flush()
        return "250 OK"


def _anyone(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


def main(port: int, path: Path) -> None:
    with path.open("a", encoding="utf-8") as out:
        controller = Controller(
            _Keep(out), hostname="127.0.0.1", port=port, authenticator=_anyone, auth_require_tls=False
        )
        controller.start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print("ready", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
