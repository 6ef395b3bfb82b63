"""Resolvers of the import fields. The roll arrives as a file of a GraphQL multipart request
(https://github.com/jaydenseric/graphql-multipart-request-spec); from there on it is REST's
import: the same size limit, the same job, the same background run and the same reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments
from api.graphql.kpm_types import ImportJob, ImportRefusal, ImportRefusalPage
from api.imports import start_in_background
from schemas.filters import ListArguments
from schemas.kpm import ImportJobOut
from service.errors import FieldError, ValidationFailed
from service.kpm import imports

GqlInfo = Info[GraphQLContext, None]

CHUNK = 1 << 20


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    # The form parser spooled it to a temporary file: read it back a piece at a time.
    while chunk := await file.read(CHUNK):
        yield chunk


def _job(job: object) -> ImportJob:
    return ImportJob.from_out(ImportJobOut.model_validate(job, from_attributes=True))


async def start_import(info: GqlInfo, file: Upload, format: str = "csv") -> ImportJob:
    caller = info.context.caller
    imports.authorize(caller)
    imports.check_format(format)
    assert info.context.request is not None
    app = info.context.request.app
    if not isinstance(file, UploadFile):  # a variable sent as text, not as a file part
        raise ValidationFailed(
            errors=[FieldError("file", "file_required", "Send the roll as a multipart file.")]
        )
    job = await imports.receive_upload(
        info.context.sessions, caller, _chunks(file), format, app.state.settings.import_max_bytes
    )
    start_in_background(app, job.id)
    return _job(job)


async def import_job(info: GqlInfo, id: uuid.UUID) -> ImportJob:
    return _job(await imports.get_job(info.context.session, info.context.caller, id))


async def import_refusals(
    info: GqlInfo, job_id: uuid.UUID, limit: int = 50, cursor: str | None = None
) -> ImportRefusalPage:
    caller = info.context.caller
    check_list_arguments(ListArguments, cursor=cursor)
    page = await imports.list_refusals(
        info.context.session, caller, job_id, limit=limit, cursor=cursor
    )
    return ImportRefusalPage(
        items=[ImportRefusal.from_out(imports.present_refusal(r, caller)) for r in page.items],
        next_cursor=page.next_cursor,
    )
