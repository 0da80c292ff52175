"""Pipeline leads cut into commands that each fit in one NATS message."""

from __future__ import annotations

import json
from collections.abc import Iterator

from contracts.commands import PipelineLeadItem

# Each create command is one NATS message (1 MB by default); leads are sent in batches well below that.
BATCH_BYTES = 256 * 1024


def batches(items: list[PipelineLeadItem], max_bytes: int) -> Iterator[list[PipelineLeadItem]]:
    batch: list[PipelineLeadItem] = []
    size = 0
    for item in items:
        # json.dumps escapes non-ASCII, so this is an upper bound of the item's size on the wire.
        item_size = len(json.dumps(item.model_dump(mode="json"))) + 2
        if batch and size + item_size > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
