"""The `leadflow` command."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from services.inbox.cli import inbox_app
from services.runtime.settings import Settings

app = typer.Typer(help="Leadflow: lead management for cold-email outreach.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces and their API keys.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
directory_app = typer.Typer(
    help="The company directory: reference data shared by every workspace, to pick leads from.",
    no_args_is_help=True,
)
app.add_typer(directory_app, name="directory")
bus_app = typer.Typer(help="The NATS bus: its state, and its users' credentials.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")
app.add_typer(inbox_app, name="inbox")

DEV_WORKSPACE = "Default"
DEV_KEY_NAME = "dev (leadflow up)"
# Exit status of a command that needs the running stack and found none it may use.
NO_STACK_EXIT = 3

Embedded = Annotated[
    bool,
    typer.Option(
        "--embedded",
        help="When no stack runs on the data folder, start its embedded PostgreSQL for this command only "
        "(creating the folder if it is new) instead of failing.",
    ),
]


@contextlib.contextmanager
def stack_database(embedded: bool) -> Iterator[str]:
    """The running stack's database (see `leadflow up`), or exit with a message saying where we looked."""
    from services.runtime.embedded_pg import ClusterFromAnotherVersion
    from services.runtime.stack import StackNotFound, database_url_for_cli

    try:
        with database_url_for_cli(
            Settings(), embedded=embedded, notify=lambda note: typer.echo(note, err=True)
        ) as url:
            yield url
    except StackNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(NO_STACK_EXIT) from None
    except ClusterFromAnotherVersion as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def up() -> None:
    """Start the whole system: embedded NATS and PostgreSQL (unless their URLs are set) and every service.

    Honours LEADFLOW_DATA_DIR (default .leadflow) and LEADFLOW_HTTP_PORT (default 8000). The terminal
    shows the banner and errors; the logs are JSON lines in <data folder>/logs/. Other commands find
    this stack from any directory while it runs.
    """
    import httpx

    from services.composition import SERVICES
    from services.runtime.logs import configure_logging
    from services.runtime.smtp_capture import CAPTURE_MAILBOX_NAME, ensure_capture_mailbox
    from services.runtime.stack import LOGS_DIR, UP_LOG, Endpoints, run_stack

    settings = Settings()
    data_dir = settings.data_dir.expanduser().resolve()
    configure_logging(settings.log_level, file=data_dir / LOGS_DIR / UP_LOG)
    typer.echo(f"Starting Leadflow on {data_dir} (logs in {data_dir / LOGS_DIR})…", err=True)

    def announce(gateway_url: str, endpoints: Endpoints) -> None:
        key = asyncio.run(_dev_key(endpoints.database_url))
        capture = endpoints.capture
        if capture is not None:
            # The dev workspace sends into the capture: import → activate shows real messages, none leaves.
            try:
                ensure_capture_mailbox(gateway_url, key, capture)
            except httpx.HTTPError as exc:
                typer.echo(
                    f"warning: the dev mailbox {CAPTURE_MAILBOX_NAME!r} was not set up: {exc}", err=True
                )
        typer.echo(
            "\nLeadflow is running.\n"
            f"  Gateway      {gateway_url}\n"
            f"  API docs     {gateway_url}/docs\n"
            f"  NATS         {endpoints.nats_url}\n"
            f"  Mail capture {capture}   (mailbox {CAPTURE_MAILBOX_NAME!r}; the UI's Outbox (local))\n"
            f"  Data folder  {data_dir}\n"
            f"  Dev API key  {key}   (workspace {DEV_WORKSPACE!r}; a new one each start)\n"
            "Press Ctrl-C to stop.\n"
        )

    raise typer.Exit(run_stack(settings, SERVICES, announce))


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
    embedded: Embedded = False,
) -> None:
    """Apply every service's database migrations (one Alembic history per service schema).

    The database: LEADFLOW_DATABASE_URL, else the running stack's (exit status 3 when there is none).
    """
    from services.composition import MIGRATED_SERVICES
    from services.runtime import migrations

    with stack_database(embedded) as url:
        if downgrade:
            migrations.downgrade(url, MIGRATED_SERVICES)
        else:
            migrations.upgrade(url, MIGRATED_SERVICES)
    typer.echo("migrations: " + ("downgraded to base" if downgrade else "at head"))


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="The workspace's name.")], embedded: Embedded = False
) -> None:
    """Create a workspace and print its API key (shown once) on the last line.

    In the running stack's database (from any directory), else LEADFLOW_DATABASE_URL's; exit status 3
    when there is no stack to use.
    """
    from services.composition import MIGRATED_SERVICES
    from services.runtime import migrations

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

    with stack_database(embedded) as url:
        migrations.upgrade(url, MIGRATED_SERVICES)
        key = asyncio.run(create(url))
    typer.echo(key)


@directory_app.command("load")
def directory_load(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The directory CSV (docs/sources.md)."
        ),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Empty the directory first (one transaction).")
    ] = False,
    embedded: Embedded = False,
) -> None:
    """Load companies from a CSV into the directory; rejected rows are listed with their line and reason.

    Exit status: 0 every row loaded, 1 some rows rejected (the others are loaded), 2 nothing loaded,
    3 no running stack to load into.
    """
    from services.composition import MIGRATED_SERVICES
    from services.importer.directory.cli import load_file
    from services.runtime import migrations
    from services.runtime.db import psycopg_conninfo

    with stack_database(embedded) as url:
        migrations.upgrade(url, MIGRATED_SERVICES)
        code = load_file(psycopg_conninfo(url), file, replace=replace, out=sys.stdout)
    raise typer.Exit(code)


@directory_app.command("sample")
def directory_sample(
    rows: Annotated[int, typer.Option("--rows", min=1, help="How many companies.")],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same companies.")] = 1,
    output: Annotated[
        Path | None,
        typer.Option("--output", dir_okay=False, help="Write a directory CSV instead of loading."),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Empty the directory first.")] = False,
    embedded: Embedded = False,
) -> None:
    """Generate synthetic Central-European companies and load them (or write them with --output)."""
    from services.importer.directory.csv_file import write_directory_csv
    from services.importer.directory.sample import sample_rows

    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as out:
            written = write_directory_csv(sample_rows(rows, seed), out)
        typer.echo(f"Wrote {written:,} companies (seed {seed}) to {output}.")
        return
    from services.composition import MIGRATED_SERVICES
    from services.importer.directory.cli import load_sample
    from services.runtime import migrations
    from services.runtime.db import psycopg_conninfo

    with stack_database(embedded) as url:
        migrations.upgrade(url, MIGRATED_SERVICES)
        load_sample(psycopg_conninfo(url), rows, seed, replace=replace, out=sys.stdout)


@bus_app.command("status")
def bus_status() -> None:
    """Show the event streams and how far behind each durable consumer is (waiting, in progress,
    redelivered), read as the read-only `cli` NATS user.

    The bus: LEADFLOW_NATS_URL (with LEADFLOW_NATS_USER and LEADFLOW_NATS_PASSWORD), else the running
    stack's (exit status 3 when there is none).
    """
    from services.runtime.bus_status import BusNotFound, bus_for_cli, read_status

    try:
        access = bus_for_cli(Settings())
    except BusNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(NO_STACK_EXIT) from None
    try:
        status = asyncio.run(read_status(access))
    except Exception as exc:  # the server's refusal or absence, said in one line
        typer.echo(f"error: cannot read the bus at {access.url}: {exc!r}", err=True)
        raise typer.Exit(1) from None
    typer.echo(status.render(), nl=False)


@bus_app.command("secrets")
def bus_secrets(
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            dir_okay=False,
            help="Keep the passwords in this file (0600; created when missing) so that the Secrets stay "
            "the same from run to run; without it, every run makes new passwords.",
        ),
    ] = None,
    namespace: Annotated[str, typer.Option(help="The namespace of the Secrets.")] = "leadflow",
) -> None:
    """Print the Kubernetes Secrets of the NATS users: the server's auth.conf (each service's
    permissions) and each service's password. `leadflow bus secrets | kubectl apply -f -`;
    docs/deploy.md shows the whole sequence, rotation included."""
    from services.composition import bus_grants
    from services.runtime.bus_users import BusCredentials, kubernetes_secrets

    users = bus_grants()
    if credentials is None:
        kept = BusCredentials({user: BusCredentials.new_password() for user in users})
    else:
        kept = BusCredentials.load_or_create(credentials, users)
    sys.stdout.write(kubernetes_secrets(kept, namespace, users))


@app.command("secret-key")
def secret_key(
    kubernetes: Annotated[
        bool,
        typer.Option(
            "--kubernetes",
            help="Print the Kubernetes Secret leadflow-secret-key that the Deployments read, instead of the "
            "bare key.",
        ),
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            dir_okay=False,
            help="Keep the key in this file (0600; created when missing, else read: a rotation in progress "
            "lists several, comma-separated) so that runs print the same key; without it, a new one.",
        ),
    ] = None,
    namespace: Annotated[str, typer.Option(help="The namespace of the Secret.")] = "leadflow",
) -> None:
    """Print a new secret key for LEADFLOW_SECRET_KEY (256 random bits), or the Kubernetes Secret holding
    it: `leadflow secret-key --kubernetes --file leadflow-secret-key.txt | kubectl apply -f -`.
    docs/security.md says what it protects and how to rotate it."""
    from services.runtime.secrets import (
        SecretKeyError,
        kubernetes_secret,
        load_or_create_secret_key,
        new_secret_key,
    )

    try:
        value = new_secret_key() if file is None else load_or_create_secret_key(file)
    except SecretKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(kubernetes_secret(value, namespace) if kubernetes else value + "\n")


@app.command()
def asyncapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Print the AsyncAPI document of every subject the services publish and consume."""
    from services.asyncapi import render

    text = render()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


@app.command()
def validate(
    addresses: Annotated[list[str] | None, typer.Argument(help="Addresses to verify.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A file of addresses, one per line ('-' = standard input).")
    ] = None,
) -> None:
    """Verify addresses as the validator does (syntax, DNS, SMTP probe, catch-all) without the bus.

    Prints one JSON object per address, in input order:
    {"email", "verdict", "reason", "mx", "smtp_code", "catch_all", "disposable", "role"}.
    Configured by the same LEADFLOW_DNS_* / LEADFLOW_SMTP_PROBE_* / LEADFLOW_VALIDATOR_* variables.
    Checks the DNS canaries first: when the resolver fails for them it verifies nothing and exits 2, and
    addresses whose DNS broke during the run print as unknown / dns_unhealthy (exit 2 as well).
    """
    import json

    from services.validator.verifier import DNS_ADVICE, DnsUntrusted, Verifier

    inputs = list(addresses or [])
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
        # One address per line: a line with a space in it is one (invalid) address, not two.
        inputs += [line.strip() for line in text.splitlines() if line.strip()]
    if not inputs:
        raise typer.BadParameter("give addresses as arguments or with --file")
    try:
        verifier = Verifier.from_settings(Settings())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from services.runtime.logs import configure_logging

    # Standard output is JSON lines only; what goes wrong is said below, in a sentence on standard error.
    configure_logging("ERROR")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # The bar goes to standard error (and only to a terminal): standard output stays pure JSON lines.
    with Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("verify", total=len(inputs))
        try:
            results = asyncio.run(verifier.verify_checked(inputs, lambda n: bar.advance(task, n)))
        except DnsUntrusted as exc:
            typer.echo(f"DNS looks broken: {exc}. No address was verified: {DNS_ADVICE}", err=True)
            raise typer.Exit(2) from None
    for result in results:
        sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
    if any(result.reason == "dns_unhealthy" for result in results):
        typer.echo(
            f"DNS broke during the run; addresses marked dns_unhealthy were not verified: {DNS_ADVICE}",
            err=True,
        )
        raise typer.Exit(2)


if __name__ == "__main__":
    app()
