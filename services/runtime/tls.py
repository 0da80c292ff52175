"""The TLS trust of connections to the users' mail servers: the system's authorities, and those of
`LEADFLOW_MAIL_CA_FILE` when set (a company's own CA in front of its SMTP or IMAP server)."""

from __future__ import annotations

import ssl
from pathlib import Path


def mail_tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context verifying certificates and host names against the system's CAs plus `ca_file`."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"LEADFLOW_MAIL_CA_FILE {ca_file} is not a readable PEM file: {exc}") from exc
    return context
