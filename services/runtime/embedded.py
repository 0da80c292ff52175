"""What the embedded servers share: free TCP ports and the tail of a server's log.

`leadflow up` and the tests run NATS (`embedded_nats`) and PostgreSQL (`embedded_pg`) as local child
servers from pip packages, so nothing has to be installed on the machine. Each keeps its data under a
directory owned by the caller, so data survives `stop()`/`start()`.
"""

from __future__ import annotations

import socket
from pathlib import Path

__all__ = ["free_port", "log_tail", "port_is_free"]

_LOG_TAIL_LINES = 40


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now.

    SO_REUSEADDR makes the probe ignore sockets lingering in TIME_WAIT (servers set it too) while a
    socket that is listening on the port, on `host` or on the wildcard address, still makes it fail.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def log_tail(path: Path, offset: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file written after `offset` (the part of the current run)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    text = data.decode("utf-8", errors="replace").rstrip()
    if not text:
        return f"({path} is empty)"
    return "\n".join(text.splitlines()[-lines:])
