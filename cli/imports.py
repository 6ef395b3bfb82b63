"""``dinsos import``: bulk imports run by the operator, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from service.kpm.import_worker import JobLocks
    from service.kpm.tables import ImportJob

app = typer.Typer(help="Bulk imports.", no_args_is_help=True)


@app.command("kpm")
def import_kpm(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, readable=True)
    ],
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="csv|ndjson", help="The file's format; by default from its suffix."
        ),
    ] = None,
) -> None:
    """Import families from the canonical CSV or NDJSON, with a progress bar. Families already
    registered (same No KK) are updated; importing the same file again changes nothing."""
    import asyncio

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from service.auth.clients import operator
    from service.database import create_engine, create_session_factory
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.errors import DomainError
    from service.kpm import imports
    from service.kpm.import_worker import job_locks, run_claimed
    from service.settings import get_settings

    chosen = file_format or ("ndjson" if file.suffix.lower() in (".ndjson", ".jsonl") else "csv")
    settings = get_settings()
    caller = operator()

    async def run() -> ImportJob:
        url = resolve_database_url(settings)
        engine = create_engine(url, settings)
        sessions = create_session_factory(engine)
        try:
            async with job_locks(url) as locks:
                async with sessions() as session, session.begin():
                    job = await imports.create_job(
                        session, caller, file, chosen, file.stat().st_size
                    )
                    # Claimed before anyone can see it: this command runs it, with its progress
                    # bar; if the command is stopped, an import worker resumes it.
                    await locks.try_lock(job.id)
                return await _run_with_progress(sessions, locks, job)
        finally:
            await engine.dispose()

    async def _run_with_progress(
        sessions: async_sessionmaker[AsyncSession], locks: JobLocks, job: ImportJob
    ) -> ImportJob:
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[families]} families"),
        ) as progress:
            task = progress.add_task("import", total=max(job.bytes_total, 1), families=0)

            def show(current: ImportJob) -> None:
                progress.update(task, completed=current.bytes_read, families=current.families_read)

            done = await run_claimed(sessions, locks, job.id, on_progress=show)
        if done is None:
            raise DomainError("Another process took the import over; follow it with its id.")
        return done

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
