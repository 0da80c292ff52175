"""The JetStream streams every service relies on, declared explicitly and idempotently at start-up."""

from __future__ import annotations

from faststream.nats import JStream
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from contracts import subjects


def events_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        num_replicas=replicas,
        name=subjects.STREAM,
        subjects=list(subjects.STREAM_SUBJECTS),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=float(subjects.DUPLICATE_WINDOW_SECONDS),
    )


def dead_letter_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        num_replicas=replicas,
        name=subjects.DEAD_LETTER_STREAM,
        subjects=list(subjects.DEAD_LETTER_SUBJECTS),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=float(subjects.DUPLICATE_WINDOW_SECONDS),
    )


# CSV uploads travel from the gateway to the importer through this object store bucket.
UPLOADS_BUCKET = "leadflow-uploads"


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    for config in (events_stream_config(replicas), dead_letter_stream_config(replicas)):
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with an older configuration: bring it up to date rather than fail the start.
            await js.update_stream(config)
    try:
        await js.object_store(UPLOADS_BUCKET)
    except NotFoundError:
        await js.create_object_store(
            UPLOADS_BUCKET,
            ObjectStoreConfig(storage=StorageType.FILE, description="CSV uploads awaiting import"),
        )


def events_jstream() -> JStream:
    """FastStream's handle on the events stream; declared by `ensure_streams`, not by FastStream."""
    return JStream(name=subjects.STREAM, subjects=list(subjects.STREAM_SUBJECTS), declare=False)
