"""What a service writes with LEADFLOW_LOG_JSON set: JSON lines only, whoever logs, and no lead's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.composition import MIGRATED_SERVICES
from services.runtime import migrations
from services.runtime.db import psycopg_conninfo
from services.runtime.embedded import free_port
from services.runtime.secrets import new_secret_key
from tests.harness import temporary_nats

pytestmark = pytest.mark.infra

PERSONAL = ("firma.cz", "Zdeňka", "Nováková", "Nov%C3%A1kov%C3%A1")


def json_lines(text: str, source: str) -> list[dict[str, Any]]:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"{source}:{number} is not a JSON line: {line!r}")
        assert isinstance(record, dict) and {"event", "level", "timestamp"} <= record.keys(), line
        lines.append(record)
    return lines


def assert_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value not in text, f"{value!r} was logged:\n{text}"


def test_statements_failing_on_emails_and_names_log_neither(
    fresh_database_url: Callable[[], str], tmp_path: Path
) -> None:
    database_url = fresh_database_url()
    probe = [sys.executable, "-m", "tests.integration.database_error_probe", database_url]
    to_stderr = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert to_stderr.returncode == 0, to_stderr.stderr
    lines = json_lines(to_stderr.stderr, "stderr")
    events = [(line["logger"], line["event"]) for line in lines if line["level"] != "debug"]
    assert events.count(("probe", "handler failed, will retry")) == 3
    assert events.count(("uvicorn.error", "Exception in ASGI application")) == 3
    assert events.count(("probe", "import chunk failed")) == 2
    failures = " ".join(str(line.get("error", "")) + str(line.get("exception", "")) for line in lines)
    for what in ("UniqueViolation", "CheckViolation", "InvalidTextRepresentation", "parameters hidden"):
        assert what in failures
    assert_no_personal_data(to_stderr.stderr)

    # `leadflow up`'s way: JSON lines in a file, errors in one line on the terminal.
    log_file = tmp_path / "logs" / "up.log"
    with_file = subprocess.run([*probe, "--file", str(log_file)], capture_output=True, text=True, timeout=60)
    assert with_file.returncode == 0, with_file.stderr
    assert with_file.stderr.count("statement failed") == 3
    written = log_file.read_text(encoding="utf-8")
    json_lines(written, log_file.name)
    assert_no_personal_data(with_file.stderr + written)


def test_the_gateway_writes_only_json_lines_startup_access_and_tracebacks_included(
    fresh_database_url: Callable[[], str], tmp_path: Path
) -> None:
    database_url = fresh_database_url()
    migrations.upgrade(database_url, MIGRATED_SERVICES)
    created = subprocess.run(
        [sys.executable, "-m", "services.cli", "workspace", "create", "Logs"],
        env={**os.environ, "LEADFLOW_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = created.stdout.strip().splitlines()[-1]
    port = free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with temporary_nats() as nats_server, out.open("wb") as stdout, err.open("wb") as stderr:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")},
            "LEADFLOW_NATS_URL": nats_server.url,
            "LEADFLOW_NATS_USER": "gateway",
            "LEADFLOW_NATS_PASSWORD": nats_server.credentials.password("gateway"),
            "LEADFLOW_DATABASE_URL": database_url,
            "LEADFLOW_HTTP_PORT": str(port),
            "LEADFLOW_LOG_JSON": "1",
            "LEADFLOW_LOG_LEVEL": "DEBUG",
            "LEADFLOW_SECRET_KEY": new_secret_key(),
        }
        gateway = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"], env=env, stdout=stdout, stderr=stderr
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert gateway.poll() is None, err.read_text()
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            search = httpx.get(f"{url}/api/v1/campaigns", params={"q": "Nováková"}, headers=headers)
            assert search.status_code == 200
            # The keys' table gone: every authenticated request fails inside, with a traceback.
            with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as conn:
                conn.execute("ALTER TABLE gateway.api_keys RENAME TO api_keys_gone")
            assert httpx.get(f"{url}/api/v1/campaigns", headers=headers).status_code == 500
            assert httpx.delete(f"{url}/api/v1/suppressions/ana@firma.cz", headers=headers).status_code == 500
        finally:
            gateway.terminate()
            gateway.wait(30)

    assert out.read_text() == ""
    text = err.read_text(encoding="utf-8")
    lines = json_lines(text, "stderr")
    seen = {(line["logger"], line["event"]) for line in lines}
    assert ("uvicorn.error", "Application startup complete.") in seen
    assert ("services.runtime.service", "service started") in seen
    assert ("services.runtime.consumer", "consuming") in seen, sorted(seen)
    access = [line["event"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any('"GET /readyz HTTP/1.1" 200' in line for line in access)
    assert any('"GET /api/v1/campaigns HTTP/1.1" 200' in line for line in access)
    assert any('"DELETE /api/v1/suppressions/[withheld] HTTP/1.1" 500' in line for line in access)
    crashes = [line for line in lines if line["event"].strip() == "Exception in ASGI application"]
    assert len(crashes) == 2 and all("UndefinedTable" in line["exception"] for line in crashes)
    assert_no_personal_data(text)
