"""Reading the company directory (`importer.directory_companies`): a filter's count and page, the facets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.commands import DirectoryFilter
from services.importer.directory.queries import cities_query, count_query, facet_query, fetch, page_query


class DirectoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DirectoryRepository:
        return cls(session)

    async def count(self, f: DirectoryFilter) -> int:
        counted = await fetch(self.session, *count_query(f))
        return int(counted[0]["n"])

    async def page(self, f: DirectoryFilter, after: int | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` companies matching `f`, in id order after the id `after`."""
        return await fetch(self.session, *page_query(f, after, limit))

    async def distinct(self, column: str) -> list[str]:
        """The distinct values of a facet column (`country`, `industry`), in no particular order."""
        return [row["value"] for row in await fetch(self.session, *facet_query(column))]

    async def cities(self, countries: Sequence[str]) -> list[str]:
        """The distinct cities of the given countries (of every country when none is given)."""
        return [row["value"] for row in await fetch(self.session, *cities_query(countries))]
