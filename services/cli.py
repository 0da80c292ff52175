"""The `leadflow` command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from services.runtime.settings import Settings

app = typer.Typer(help="Leadflow: lead management for cold-email outreach.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces and their API keys.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")

DEV_WORKSPACE = "Default"
DEV_KEY_NAME = "dev (leadflow up)"


@app.command()
def up() -> None:
    """Start the whole system: embedded NATS and PostgreSQL (unless their URLs are set) and every service.

    Honours LEADFLOW_DATA_DIR (default .leadflow) and LEADFLOW_HTTP_PORT (default 8000).
    """
    from services.runtime.logs import configure_logging
    from services.runtime.stack import Endpoints, run_stack

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)

    def announce(gateway_url: str, endpoints: Endpoints) -> None:
        key = asyncio.run(_dev_key(endpoints.database_url))
        typer.echo(
            "\nLeadflow is running.\n"
            f"  Gateway      {gateway_url}\n"
            f"  API docs     {gateway_url}/docs\n"
            f"  NATS         {endpoints.nats_url}\n"
            f"  Data folder  {settings.data_dir.resolve()}\n"
            f"  Dev API key  {key}   (workspace {DEV_WORKSPACE!r}; a new one each start)\n"
            "Press Ctrl-C to stop.\n"
        )

    raise typer.Exit(run_stack(settings, announce))


async def _dev_key(database_url: str) -> str:
    from services.gateway.auth import create_workspace, rotate_named_key, workspace_by_name
    from services.runtime.db import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            workspace_id = await workspace_by_name(session, DEV_WORKSPACE)
            if workspace_id is None:
                issued = await create_workspace(session, DEV_WORKSPACE, DEV_KEY_NAME)
            else:
                issued = await rotate_named_key(session, workspace_id, DEV_KEY_NAME)
            return issued.key
    finally:
        await engine.dispose()


@app.command()
def migrate(
    downgrade: Annotated[bool, typer.Option("--downgrade", help="Undo every migration instead.")] = False,
) -> None:
    """Apply every service's database migrations (one Alembic history per service schema)."""
    from services.runtime import migrations
    from services.runtime.stack import database_url_for_cli

    with database_url_for_cli(Settings()) as url:
        if downgrade:
            migrations.downgrade(url)
        else:
            migrations.upgrade(url)
    typer.echo("migrations: " + ("downgraded to base" if downgrade else "at head"))


@workspace_app.command("create")
def workspace_create(name: Annotated[str, typer.Argument(help="The workspace's name.")]) -> None:
    """Create a workspace and print its API key (shown once) on the last line."""
    from services.runtime import migrations
    from services.runtime.stack import database_url_for_cli

    async def create(url: str) -> str:
        from services.gateway.auth import create_workspace
        from services.runtime.db import create_engine, session_factory

        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                issued = await create_workspace(session, name)
        finally:
            await engine.dispose()
        typer.echo(f"Workspace {name!r} created: {issued.workspace_id}", err=True)
        return issued.key

    with database_url_for_cli(Settings()) as url:
        migrations.upgrade(url)
        key = asyncio.run(create(url))
    typer.echo(key)


@app.command()
def asyncapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Print the AsyncAPI document of every subject the services publish and consume."""
    from services.runtime.asyncapi import render

    text = render()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


if __name__ == "__main__":
    app()
