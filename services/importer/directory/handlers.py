"""The importer's directory commands (search, facets, start an import) and the `directory` import source."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contracts.commands import (
    DirectoryCompany,
    DirectoryFacets,
    DirectoryFilter,
    DirectoryPage,
    GetDirectoryFacets,
    ImportStatusReply,
    SearchDirectory,
    StartDirectoryImport,
)
from contracts.replies import Refusal
from services.importer.directory.labels import directory_label, in_czech_order
from services.importer.directory.queries import decode_position_cursor, encode_position_cursor, import_query
from services.importer.directory.repository import DirectoryRepository
from services.importer.domain import ImportInputError
from services.importer.handlers import start
from services.importer.runner import ImportRunner
from services.importer.sources import QuerySource
from services.runtime.service import Service


def build_source(conninfo: str, job: Any) -> QuerySource:
    try:
        f = DirectoryFilter.model_validate(job.params.get("filter", {}))
    except ValidationError as exc:
        raise ImportInputError(f"The directory filter of this import is not valid: {exc}") from exc
    query, params = import_query(f)
    return QuerySource(conninfo, query, params)


async def search_directory(service: Service, cmd: SearchDirectory) -> DirectoryPage | Refusal:
    try:
        after = decode_position_cursor(cmd.cursor) if cmd.cursor else None
    except ValueError as exc:
        return Refusal.invalid(str(exc))
    async with service.unit_of_work() as uow:
        directory = DirectoryRepository.from_session(uow.session)
        total = await directory.count(cmd.filter)
        rows = await directory.page(cmd.filter, after, cmd.limit + 1)
    items = [DirectoryCompany.model_validate(row) for row in rows[: cmd.limit]]
    next_cursor = encode_position_cursor(items[-1].id) if len(rows) > cmd.limit else None
    return DirectoryPage(items=items, total=total, next_cursor=next_cursor)


async def directory_facets(service: Service, cmd: GetDirectoryFacets) -> DirectoryFacets:
    async with service.unit_of_work() as uow:
        directory = DirectoryRepository.from_session(uow.session)
        countries = await directory.distinct("country")
        cities = await directory.cities(cmd.country)
        industries = await directory.distinct("industry")
    return DirectoryFacets(
        countries=in_czech_order(countries),
        cities=in_czech_order(cities),
        industries=in_czech_order(industries),
    )


async def start_directory_import(
    service: Service, runner: ImportRunner, cmd: StartDirectoryImport
) -> ImportStatusReply | Refusal:
    return await start(
        service,
        runner,
        {
            "id": cmd.import_id,
            "workspace_id": cmd.workspace_id,
            "campaign_id": cmd.campaign_id,
            "source": "directory",
            "params": {"filter": cmd.filter.model_dump(mode="json")},
            "filename": directory_label(cmd.filter),
            "mapping": {},
        },
    )
