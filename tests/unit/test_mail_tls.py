"""The mail servers' TLS trust: the system's authorities plus a private CA file, and a clear error for a
file that is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.tls import mail_tls_context
from tests.peers.submission import Certificate


def test_a_private_ca_is_trusted_besides_the_systems() -> None:
    certificate = Certificate.self_signed()
    system = mail_tls_context().cert_store_stats()["x509_ca"]
    with_private = mail_tls_context(certificate.cert_path)
    assert with_private.cert_store_stats()["x509_ca"] == system + 1
    assert with_private.check_hostname and with_private.verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_a_file_that_is_not_a_pem_bundle_is_refused_by_name(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"LEADFLOW_MAIL_CA_FILE .*ca\.pem"):
        mail_tls_context(path)
