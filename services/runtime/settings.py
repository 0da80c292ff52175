"""Configuration shared by every service, read from `LEADFLOW_*` environment variables.

Nothing is built at import time: callers construct `Settings()` when they start, so tests and
`leadflow up` can set the environment first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.subjects import inbox_prefix


class LogSettings(BaseSettings):
    """The logging part of `Settings`, read first, so that a mistake in the others is logged as asked."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    log_level: str = "INFO"
    log_json: bool | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    nats_url: str | None = Field(
        default=None, description="NATS server, without credentials; unset → `leadflow up` embeds one"
    )
    # Each service has a NATS user of its own (services/runtime/bus_users.py); `leadflow up` sets both for
    # every service it starts, Kubernetes takes the password from a Secret.
    nats_user: str | None = Field(default=None, description="this process's NATS user")
    nats_password: SecretStr | None = Field(default=None, description="the NATS user's password")
    secret_key: SecretStr | None = Field(
        default=None,
        description="the workspace-wide secret that encrypts mailbox passwords and signs unsubscribe links; "
        "several, comma-separated, during a rotation (the first is current; docs/security.md); unset → "
        "`leadflow up` keeps one in its data folder",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://…); unset → embedded PostgreSQL"
    )
    data_dir: Path = Field(default=Path(".leadflow"), description="where `leadflow up` keeps its data")
    http_host: str = Field(default="127.0.0.1", description="gateway bind address")
    http_port: int = Field(default=8000, description="gateway port")
    public_url: str | None = Field(
        default=None,
        description="the address users open the gateway at, e.g. https://leads.example.com (scheme, host "
        "and port): the web UI's state changes must come from this origin, and https makes the session "
        "cookie Secure; unset → the origin each request was sent to",
    )
    capture_smtp: str | None = Field(
        default=None,
        description="`host:port` of `leadflow up`'s local SMTP capture server; unset → 127.0.0.1:1025 (another "
        "free port when that one is taken)",
    )
    capture_dir: Path | None = Field(
        default=None,
        description="the Maildir of captured messages the gateway lists at /api/v1/dev/outbox (`leadflow up` "
        "sets it); unset → the outbox is off",
    )
    health_port: int = Field(
        default=8080, description="/healthz, /startedz and /readyz of a worker service; 0 = any"
    )
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="JSON logs; default: JSON unless stderr is a TTY")
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream replicas of Leadflow's streams"
    )
    max_deliver: int = Field(default=5, ge=1, description="deliveries before a message is dead-lettered")
    ack_wait_seconds: float = Field(default=60.0, gt=0)
    request_timeout_seconds: float = Field(default=15.0, gt=0, description="gateway → service commands")
    import_chunk_rows: int = Field(default=1000, ge=1, le=1000, description="leads per LeadImported batch")
    import_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1, description="largest accepted CSV upload")
    suppression_upload_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="largest accepted suppression-list upload"
    )

    # The validator's probe. Defaults suit a real network; tests point them at local DNS and MX peers.
    dns_nameservers: str = Field(
        default="", description="comma-separated `ip[:port]` resolvers; empty = the system's"
    )
    dns_timeout_seconds: float = Field(default=3.0, gt=0)
    smtp_probe_port: int = Field(default=25, ge=1, le=65535, description="port of the MX hosts probed")
    smtp_probe_helo: str = Field(default="", description="EHLO name of the prober; empty = this host's FQDN")
    smtp_probe_sender: str = Field(default="", description="MAIL FROM of a probe; empty = the null sender <>")
    smtp_probe_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_ca_file: Path | None = Field(
        default=None,
        description="certificate authorities (PEM) trusted for the sender mailboxes' SMTP and IMAP TLS, "
        "besides the system's: for servers with a private CA",
    )
    validator_per_mx_limit: int = Field(default=2, ge=1, description="concurrent connections per MX host")
    validator_concurrency: int = Field(default=100, ge=1, description="concurrent SMTP sessions in all")
    validator_greylist_retry_seconds: str = Field(
        default="60,300,900", description="waits before each re-probe of a greylisted address"
    )
    validator_held_retry_seconds: float = Field(
        default=300.0, gt=0, description="wait before retrying leads held while the prober looked blocked"
    )
    validator_cache_ttl_seconds: float = Field(default=3600.0, ge=0, description="MX and catch-all cache")
    validator_dns_canaries: str = Field(
        default="gmail.com,outlook.com,yahoo.com,icloud.com,seznam.cz",
        description="comma-separated domains that certainly have MX records: when most of them fail to "
        "resolve, the resolver is at fault and DNS failures are held, not made verdicts; empty = judge by "
        "failures spreading across unrelated domains alone",
    )
    validator_dns_canary_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often the canaries are checked (also at once when DNS "
        "failures spread, and before any DNS failure becomes a verdict)",
    )
    mailer_send_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how long a send may be under way (recorded, not yet settled); one still under way "
        "after that (its mailer crashed) is marked uncertain and never sent again automatically",
    )
    mailer_claim_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long sends taken by a mailer stay its own before they are reserved; sends a "
        "crashed mailer had taken (nothing sent yet) are taken by another after that",
    )
    mailer_retry_first_seconds: float = Field(
        default=60.0,
        gt=0,
        description="wait before the first retry of a send refused for now (then doubling)",
    )
    inbox_idle_seconds: float = Field(
        default=25 * 60.0,
        gt=0,
        description="longest IDLE on a mailbox before it is renewed (RFC 2177 asks for less than 29 minutes); "
        "a server without IDLE is polled every inbox_poll_seconds instead",
    )
    inbox_poll_seconds: float = Field(
        default=30.0, gt=0, description="how often a mailbox whose server has no IDLE is looked at"
    )
    inbox_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the inbox reads the mailboxes' IMAP settings again (also at once on a "
        "MailboxChanged)",
    )
    inbox_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a replica's hold on a mailbox lasts unless renewed (a third of it apart); "
        "another replica takes over a mailbox whose reader died after that",
    )
    validator_allow_test_domains: bool = Field(
        default=False,
        description="accept addresses under .test (tests and demos only: it never exists on the Internet)",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_an_origin(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as exc:
            raise ValueError(f"LEADFLOW_PUBLIC_URL has a bad port: {value!r}") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"LEADFLOW_PUBLIC_URL must be an absolute http(s) URL such as https://leads.example.com, "
                f"not {value!r}"
            )
        return value.strip()

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> Self:
        if (self.nats_user is None) != (self.nats_password is None):
            raise ValueError("set LEADFLOW_NATS_USER and LEADFLOW_NATS_PASSWORD together")
        if self.nats_user is not None and self.nats_url and urlsplit(self.nats_url).username:
            raise ValueError(
                "LEADFLOW_NATS_URL carries credentials and LEADFLOW_NATS_USER is set: give them one way"
            )
        return self

    def nats_options(self) -> dict[str, Any]:
        """Keyword arguments of `nats.connect` (and FastStream's NatsBroker) for this process's identity.

        Replies come back on `_INBOX.<user>.…`, the only inbox that user may subscribe to.
        """
        if self.nats_user is None or self.nats_password is None:
            return {}
        return {
            "user": self.nats_user,
            "password": self.nats_password.get_secret_value(),
            "inbox_prefix": inbox_prefix(self.nats_user),
        }

    def require_urls(self) -> tuple[str, str]:
        """The NATS and database URLs a service process cannot run without."""
        missing = [
            name
            for name, value in (
                ("LEADFLOW_NATS_URL", self.nats_url),
                ("LEADFLOW_DATABASE_URL", self.database_url),
            )
            if not value
        ]
        if missing:
            raise RuntimeError(
                f"{' and '.join(missing)} not set: start the stack with `leadflow up` or set them"
            )
        assert self.nats_url is not None and self.database_url is not None
        return self.nats_url, self.database_url
