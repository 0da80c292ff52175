"""Keeping the stored Czech sort keys in step with the ICU that makes them.

A sort key belongs to the collation (ICU and Unicode version) that computed it, and keys of two versions
may not compare as their texts do. `gateway.sort_key_collation` records the collation of the stored keys;
when the gateway starts with another one (an upgraded `pyicu-wheels`), it recomputes every lead's keys in
the background, a batch per transaction, then records the new collation. Until it has finished, leads
keyed by the old collation may sort out of place among the new ones; paging stays total and stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.collation import COLLATION, person_name, sort_key
from services.runtime.service import Service

log = structlog.get_logger(__name__)

BATCH = 5000
_LOCK = "gateway:sort-key-collation"

_PAGE = text(
    "SELECT s.seq, s.company_name, v.first_name, v.last_name FROM gateway.lead_search AS s "
    "JOIN gateway.lead_view AS v ON v.seq = s.seq WHERE s.seq > :after ORDER BY s.seq LIMIT :n"
)
_UPDATE = text(
    "UPDATE gateway.lead_search AS s SET company_key = c.company_key, name_key = c.name_key "
    "FROM unnest(CAST(:seq AS bigint[]), CAST(:company_key AS bytea[]), CAST(:name_key AS bytea[])) "
    "AS c(seq, company_key, name_key) WHERE s.seq = c.seq"
)


def keys_of(rows: Sequence[Any]) -> dict[str, list[Any]]:
    """The `_UPDATE` parameters for rows of (seq, company_name, first_name, last_name)."""
    return {
        "seq": [row[0] for row in rows],
        "company_key": [sort_key(row[1]) for row in rows],
        "name_key": [sort_key(person_name(row[2], row[3])) for row in rows],
    }


async def stored_collation(connection: AsyncConnection) -> str | None:
    value: str | None = await connection.scalar(text("SELECT name FROM gateway.sort_key_collation"))
    return value


async def rekey(service: Service, collation: str = COLLATION) -> int:
    """Recompute every lead's keys unless they are already of `collation`; returns how many were redone.

    Runs in one gateway process at a time (an advisory lock held by its own connection); the others skip.
    """
    async with service.engine.connect() as guard:
        locked = await guard.scalar(
            text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": _LOCK}
        )
        await guard.commit()
        if not locked:
            return 0
        try:
            current = await stored_collation(guard)
            await guard.commit()
            if current == collation:
                return 0
            log.info("recomputing the sort keys for a new collation", collation=collation, was=current)
            done, after = 0, 0
            while True:
                async with service.sessions() as session, session.begin():
                    rows = (await session.execute(_PAGE, {"after": after, "n": BATCH})).all()
                    if not rows:
                        break
                    await session.execute(_UPDATE, keys_of(rows))
                done += len(rows)
                after = rows[-1][0]
            await guard.execute(text("UPDATE gateway.sort_key_collation SET name = :c"), {"c": collation})
            await guard.commit()
            log.info("sort keys recomputed", leads=done, collation=collation)
            return done
        finally:
            await guard.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": _LOCK})
            await guard.commit()


def register(service: Service) -> None:
    async def start() -> None:
        service.spawn(rekey(service), "gateway-sort-keys")

    service.on_startup(start)
