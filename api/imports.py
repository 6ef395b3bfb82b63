"""The HTTP side of imports: the upload streamed into the database as it arrives (never held
in memory, never on this machine's disk), and the job started at once in the background of
this process. Should this process die, any process running the import worker resumes it
(``service.kpm.import_worker``)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect

from service.access import Caller
from service.database_faults import is_database_unavailable
from service.errors import FieldError, ValidationFailed
from service.kpm import imports
from service.kpm.import_worker import job_locks, run_claimed
from service.kpm.tables import ImportJob

log = logging.getLogger(__name__)


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        # Nobody is left to read the answer; the log shows a refused request, not a fault.
        raise ValidationFailed(
            "The upload ended before the whole file arrived.",
            code="incomplete_body",
            errors=[FieldError("body", "incomplete_body", "The connection closed mid-upload.")],
        ) from None


async def receive_upload(request: Request, caller: Caller, file_format: str) -> ImportJob:
    settings = request.app.state.settings
    return await imports.receive_upload(
        request.app.state.sessions, caller, _body(request), file_format, settings.import_max_bytes
    )


def start_in_background(app: FastAPI, job_id: uuid.UUID) -> None:
    async def run() -> None:
        try:
            async with job_locks(app.state.engine.url.render_as_string(False)) as locks:
                await run_claimed(
                    app.state.sessions,
                    locks,
                    job_id,
                    read_sessions=app.state.read_sessions,
                    rate_limits=app.state.rate_limits,
                )
        except Exception as error:
            if is_database_unavailable(error):
                log.warning("import %s paused: the database is unavailable", job_id)
            else:
                log.exception("import failed", extra={"job_id": str(job_id)})

    task = asyncio.create_task(run(), name=f"import-{job_id}")
    # Keep a reference until it ends (the event loop holds only weak ones).
    app.state.background_tasks.add(task)
    task.add_done_callback(app.state.background_tasks.discard)


async def wait_for_background(app: FastAPI, timeout: float) -> None:
    """At shutdown: let running imports finish for a while; what is left is cancelled, its job
    left at its last committed batch for a process running the import worker to resume."""
    tasks = set(app.state.background_tasks)
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
