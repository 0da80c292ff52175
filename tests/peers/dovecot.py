"""A real IMAP server: dovecot (`dovecot-imapd`), started in the foreground with a configuration of its own
in a fresh folder, one user with a password, IMAP with STARTTLS on one port and TLS on another (the
certificate given). See TEST-RECIPES section 3 for its pitfalls: the folder must be 0755 (the auth process
runs as `dovecot`), mail belongs to uid 65534."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.fakemx import free_port
from tests.peers.submission import Certificate

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_UID = 65534

CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login is answered at once, without the growing penalty for repeated failures from one address.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""


@dataclass
class Dovecot:
    certificate: Certificate
    username: str = "sender@example.com"
    password: str = "correct horse"
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    folder: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="leadflow-dovecot-", dir="/tmp"))
    )
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        self.folder.chmod(0o755)
        # Mail belongs to uid 65534 (dovecot refuses uid 0): its homes must be writable by it.
        home = self.folder / "home"
        home.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, MAIL_UID, MAIL_UID)
        else:
            home.chmod(0o777)
        (self.folder / "users").write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        config = self.folder / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                folder=self.folder,
                cert=self.certificate.cert_path,
                key=self.certificate.key_path,
                port=self.port,
                tls_port=self.tls_port,
            )
        )
        self.certificate.key_path.parent.chmod(0o755)
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)])
        deadline = time.monotonic() + 15
        while not self._greets():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.folder / "dovecot.log"
                raise RuntimeError(f"dovecot did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        return self

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop_server(self) -> None:
        """Stop dovecot, keeping its mail (`start` runs it again on the same ports)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def stop(self) -> None:
        self.stop_server()
        shutil.rmtree(self.folder, ignore_errors=True)
