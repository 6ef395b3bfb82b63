"""The HTTP side of imports: the upload streamed to disk (never held in memory), and the job run
in the background of this process."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request

from service.access import Caller
from service.errors import ContentTooLarge, FieldError, ValidationFailed
from service.kpm.importer import run_import
from service.settings import Settings

log = logging.getLogger(__name__)


async def save_upload(request: Request, file_format: str) -> tuple[Path, int]:
    return await save_chunks(request.app.state.settings, request.stream(), file_format)


async def save_chunks(
    settings: Settings, chunks: AsyncIterator[bytes], file_format: str
) -> tuple[Path, int]:
    """The upload as it arrives (the request body, or a GraphQL multipart file) to a file."""
    folder = Path(settings.data_dir) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4()}.{file_format}"
    size = 0
    try:
        with path.open("wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > settings.import_max_bytes:
                    raise ContentTooLarge(
                        f"Uploads are limited to {settings.import_max_bytes // 1_000_000} MB."
                    )
                handle.write(chunk)
        if size == 0:
            # No body is no roll: refuse it rather than queue a job that imports nothing.
            raise ValidationFailed(
                errors=[FieldError("body", "body_required", "Send the file as the request body.")]
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def start_in_background(app: FastAPI, caller: Caller, job_id: uuid.UUID, path: Path) -> None:
    async def run() -> None:
        try:
            await run_import(
                app.state.sessions, caller, job_id, path, rate_limits=app.state.rate_limits
            )
        except Exception:
            log.exception("import failed", extra={"job_id": str(job_id)})
        finally:
            path.unlink(missing_ok=True)

    task = asyncio.create_task(run(), name=f"import-{job_id}")
    # Keep a reference until it ends (the event loop holds only weak ones).
    app.state.background_tasks.add(task)
    task.add_done_callback(app.state.background_tasks.discard)


async def wait_for_background(app: FastAPI, timeout: float) -> None:
    """At shutdown: let running imports finish for a while; what is left is cancelled and its
    job marked failed, so a client polling it is told to import again."""
    tasks = set(app.state.background_tasks)
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
