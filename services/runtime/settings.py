"""Configuration shared by every service, read from `LEADFLOW_*` environment variables.

Nothing is built at import time: callers construct `Settings()` when they start, so tests and
`leadflow up` can set the environment first.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    nats_url: str | None = Field(default=None, description="NATS server; unset → `leadflow up` embeds one")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://…); unset → embedded PostgreSQL"
    )
    data_dir: Path = Field(default=Path(".leadflow"), description="where `leadflow up` keeps its data")
    http_host: str = Field(default="127.0.0.1", description="gateway bind address")
    http_port: int = Field(default=8000, description="gateway port")
    health_port: int = Field(default=8080, description="/healthz and /readyz of a worker service; 0 = any")
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
