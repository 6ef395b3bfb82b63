"""``dinsos``: the operators' command line."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as clients_service
from service.auth.scopes import ALL_SCOPES
from service.database import create_engine, create_session_factory
from service.errors import DomainError
from service.runtime import (
    DemoCredentials,
    ensure_demo_client,
    load_reference_data,
    migrate,
    resolve_database_url,
    stop_embedded_database,
)
from service.settings import get_settings

app = typer.Typer(help="Operate the Dinsos data exchange.", no_args_is_help=True)
clients = typer.Typer(help="Manage API clients (machine clients of offices).", no_args_is_help=True)
app.add_typer(clients, name="clients")
importer = typer.Typer(help="Bulk imports.", no_args_is_help=True)
app.add_typer(importer, name="import")

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on the configured (or embedded) database."""
    settings = get_settings()

    async def run() -> T:
        engine = create_engine(resolve_database_url(settings), settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as error:
        details = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
        typer.secho(f"{error.detail} {details}".strip(), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        stop_embedded_database()


async def _prepare(url: str) -> None:
    await migrate(url)
    settings = get_settings()
    engine = create_engine(url, settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await load_reference_data(session)
    finally:
        await engine.dispose()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the service (migrating first). Without DATABASE_URL, on the embedded PostgreSQL."""
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    # uvicorn drains requests on SIGTERM, then re-raises the signal; turning it into SystemExit
    # lets the ``finally`` below stop the embedded server instead of orphaning it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        url = resolve_database_url(settings)
        if settings.migrate_on_start:
            asyncio.run(_prepare(url))
        if settings.uses_embedded_database and settings.load_demo_data:
            _load_demo(url, only_if_empty=True)
        demo = _demo_credentials(url)
        if demo is not None:
            typer.secho(
                "\nDemo client (national, every scope), for the docs' Authorize button:\n"
                f"  client_id:     {demo.client_id}\n  client_secret: {demo.client_secret}\n",
                fg=typer.colors.GREEN,
            )
        listen_host, listen_port = host or settings.host, port or settings.port
        typer.echo(f"Docs: http://{listen_host}:{listen_port}/docs  GraphQL: /graphql")
        uvicorn.run(
            create_app(settings, database_url=url),
            host=listen_host,
            port=listen_port,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=20,
        )
    finally:
        stop_embedded_database()


def _demo_credentials(url: str) -> DemoCredentials | None:
    settings = get_settings()

    async def run() -> DemoCredentials | None:
        engine = create_engine(url, settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await ensure_demo_client(session, settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _load_demo(url: str, *, only_if_empty: bool) -> bool:
    from service.demo.loader import database_is_empty, load_demo

    async def run() -> bool:
        engine = create_engine(url, get_settings())
        sessions = create_session_factory(engine)
        try:
            if only_if_empty and not await database_is_empty(sessions):
                return False
            typer.echo("Loading the demo data (the field stories of Tegal, Klaten, ...):")
            return await load_demo(sessions, report=lambda line: typer.echo(f"  {line}"))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command()
def demo() -> None:
    """Load the demo data: the five field stories, with their real numbers. Loads once; running
    it again changes nothing."""
    settings = get_settings()
    try:
        url = resolve_database_url(settings)
        asyncio.run(_prepare(url))
        _load_demo(url, only_if_empty=False)
    finally:
        stop_embedded_database()


@app.command("migrate")
def migrate_command() -> None:
    """Apply the migrations and load the reference data (regions, seeded programs)."""
    settings = get_settings()
    try:
        asyncio.run(_prepare(resolve_database_url(settings)))
    finally:
        stop_embedded_database()
    typer.echo("Database at head; regions and programs loaded.")


@clients.command("create")
def create_client(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. 'SIDesa Kalisalak'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope to grant; repeat the option. Default: every scope."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Region code the client is bound to; none: national.")
    ] = None,
) -> None:
    """Create a client. Its secret is printed once and never stored in the clear."""
    scopes = scope or sorted(ALL_SCOPES)
    created = _in_transaction(
        lambda session: clients_service.create_client(
            session, clients_service.operator(), name=name, scopes=scopes, region_code=region
        )
    )
    typer.echo(
        json.dumps(
            {
                "client_id": str(created.client.id),
                "client_secret": created.secret,
                "region": created.client.region_code,
                "scopes": created.client.scopes,
            },
            indent=2,
        )
    )
    typer.secho("Store the secret now: it cannot be shown again.", fg=typer.colors.YELLOW, err=True)


@clients.command("list")
def list_clients() -> None:
    """List clients (never their secrets)."""
    for client in _in_transaction(clients_service.list_clients):
        state = "revoked" if client.revoked_at else "active"
        typer.echo(
            f"{client.id}  {state:8} region={client.region_code or 'national':14} "
            f"{client.name}  [{' '.join(client.scopes)}]"
        )


@clients.command("rotate-secret")
def rotate_secret(client_id: str) -> None:
    """Issue a new secret. The old secret and every token issued with it stop working now."""
    rotated = _in_transaction(
        lambda session: clients_service.rotate_secret(
            session, clients_service.operator(), client_id
        )
    )
    typer.echo(
        json.dumps({"client_id": str(rotated.client.id), "client_secret": rotated.secret}, indent=2)
    )


@clients.command("revoke")
def revoke(client_id: str) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working now."""
    client = _in_transaction(
        lambda session: clients_service.revoke_client(
            session, clients_service.operator(), client_id
        )
    )
    typer.echo(f"Revoked {client.id} ({client.name}).")


@importer.command("kpm")
def import_kpm(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or ndjson; by default from the suffix.")
    ] = None,
) -> None:
    """Import families from the canonical CSV or NDJSON, with a progress bar. Families already
    registered (same No KK) are updated; importing the same file again changes nothing."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from service.kpm import imports
    from service.kpm.importer import run_import
    from service.kpm.tables import ImportJob

    chosen = file_format or ("ndjson" if file.suffix.lower() in (".ndjson", ".jsonl") else "csv")
    settings = get_settings()
    operator = clients_service.operator()

    async def run() -> ImportJob:
        engine = create_engine(resolve_database_url(settings), settings)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as session, session.begin():
                job = await imports.create_job(session, operator, file, chosen, file.stat().st_size)
            with Progress(
                TextColumn("[bold]importing"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[families]} families"),
            ) as progress:
                task = progress.add_task("import", total=max(job.bytes_total, 1), families=0)

                def show(current: ImportJob) -> None:
                    progress.update(
                        task, completed=current.bytes_read, families=current.families_read
                    )

                return await run_import(sessions, operator, job.id, file, on_progress=show)
        finally:
            await engine.dispose()

    try:
        job = asyncio.run(run())
    except DomainError as error:
        typer.secho(error.detail, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        stop_embedded_database()
    typer.echo(
        f"job {job.id}: {job.families_read} families read; {job.families_created} created, "
        f"{job.families_updated} updated, {job.families_unchanged} unchanged, "
        f"{job.families_refused} refused; {job.people_imported} people imported."
    )
    if job.families_refused:
        typer.echo(f"Refused rows: GET /api/v1/kpm/imports/{job.id}/refusals")
