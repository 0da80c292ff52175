"""An import preview is worked out off the importer's event loop: while one runs, the importer still
answers every other command (another workspace's import state, say) at once.

The importer runs in-process on a NATS server of its own (the session's may carry the e2e stack's
importer, which would answer half the requests), with a preview that holds its worker until the test
releases it, so the test knows the preview is still running when the other command is answered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import nats

from contracts import subjects
from contracts.commands import GetImport, ImportStatusReply, PreviewCsv, PreviewReply
from contracts.replies import Refusal, read_reply
from services.composition import MIGRATED_SERVICES
from services.importer.app import create_service
from services.importer.preview_pool import PreviewPool
from services.runtime import migrations
from services.runtime.settings import Settings
from tests.harness import TEST_CLIENT, eventually, temporary_nats

HOLD_AT_MOST_SECONDS = 120.0


def held_preview(sample: bytes, truncated: bool) -> PreviewReply:
    """Stands in for a heavy preview: says it started (a file in the folder named by `sample`), then
    keeps the CPU busy, as a parser would, until the test puts a `release` file beside it."""
    folder = Path(sample.decode())
    (folder / "started").touch()
    give_up = time.monotonic() + HOLD_AT_MOST_SECONDS
    while not (folder / "release").exists() and time.monotonic() < give_up:
        sum(range(10_000))
    return PreviewReply(encoding="utf-8", delimiter=",", headers=["held"])


async def test_a_running_preview_does_not_hold_another_workspaces_command(
    fresh_database_url: Callable[[], str], tmp_path: Path
) -> None:
    database_url = fresh_database_url()
    migrations.upgrade(database_url, MIGRATED_SERVICES)
    with temporary_nats() as server:
        # The importer as its own NATS user; the test asks as the gateway would, with the test client.
        settings = Settings(
            nats_url=server.url,
            nats_user="importer",
            nats_password=server.credentials.password("importer"),
            database_url=database_url,
        )
        service = create_service(settings, previews=PreviewPool(held_preview))
        async with service.running():
            nc = await nats.connect(server.url_for(TEST_CLIENT))
            try:
                ask_preview = PreviewCsv.of(uuid.uuid4(), str(tmp_path).encode(), truncated=False)
                previewing = asyncio.ensure_future(
                    nc.request(
                        subjects.command_subject("importer", "preview"),
                        ask_preview.model_dump_json().encode(),
                        timeout=HOLD_AT_MOST_SECONDS + 30,
                    )
                )

                async def started() -> bool:
                    return (tmp_path / "started").exists()

                await eventually(started, within=60)

                other = GetImport(workspace_id=uuid.uuid4(), import_id=uuid.uuid4())
                answer = await nc.request(
                    subjects.command_subject("importer", "get_import"),
                    other.model_dump_json().encode(),
                    timeout=10,
                )
                assert read_reply(answer.data, ImportStatusReply) == Refusal.not_found("No such import.")
                assert not previewing.done(), "the preview was meant to be still running"

                (tmp_path / "release").touch()
                preview = PreviewReply.model_validate_json((await previewing).data)
                assert preview.headers == ["held"]
            finally:
                await nc.close()
