"""The importer's directory commands (search, facets, start an import) and the `directory` import source."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from contracts import subjects
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
from services.importer.directory.queries import (
    cities_query,
    count_query,
    decode_position_cursor,
    encode_position_cursor,
    facet_query,
    fetch,
    import_query,
    page_query,
)
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


def register(service: Service, runner: ImportRunner) -> None:
    runner.sources.register("directory", build_source)
    broker = service.broker

    @broker.subscriber(
        subjects.command_subject("importer", "search_directory"),
        queue="importer",
        title="importer.search_directory",
        description="Companies of the directory matching a filter: their count and one page.",
    )
    async def search_directory(cmd: SearchDirectory) -> DirectoryPage | Refusal:
        try:
            after = decode_position_cursor(cmd.cursor) if cmd.cursor else None
        except ValueError as exc:
            return Refusal.invalid(str(exc))
        async with service.sessions() as session:
            counted = await fetch(session, *count_query(cmd.filter))
            rows = await fetch(session, *page_query(cmd.filter, after, cmd.limit + 1))
        items = [DirectoryCompany.model_validate(row) for row in rows[: cmd.limit]]
        next_cursor = encode_position_cursor(items[-1].id) if len(rows) > cmd.limit else None
        return DirectoryPage(items=items, total=counted[0]["n"], next_cursor=next_cursor)

    @broker.subscriber(
        subjects.command_subject("importer", "directory_facets"),
        queue="importer",
        title="importer.directory_facets",
        description="The distinct countries, cities (of the given countries) and industries of the directory.",
    )
    async def directory_facets(cmd: GetDirectoryFacets) -> DirectoryFacets:
        async with service.sessions() as session:
            countries = await fetch(session, *facet_query("country"))
            cities = await fetch(session, *cities_query(cmd.country))
            industries = await fetch(session, *facet_query("industry"))
        return DirectoryFacets(
            countries=in_czech_order(r["value"] for r in countries),
            cities=in_czech_order(r["value"] for r in cities),
            industries=in_czech_order(r["value"] for r in industries),
        )

    @broker.subscriber(
        subjects.command_subject("importer", "start_directory_import"),
        queue="importer",
        title="importer.start_directory_import",
        description="Import every company of the directory matching a filter into a campaign.",
    )
    async def start_directory_import(cmd: StartDirectoryImport) -> ImportStatusReply | Refusal:
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
