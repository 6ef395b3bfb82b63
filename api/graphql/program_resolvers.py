"""Resolvers of the program fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.types import Program, ProgramCreateInput, ProgramPage, ProgramUpdateInput
from schemas.filters import ListArguments
from schemas.programs import ProgramCreate, ProgramUpdate
from service.programs import service as programs

GqlInfo = Info[GraphQLContext, None]


async def program(info: GqlInfo, code: str) -> Program:
    record = await programs.get_program(info.context.session, info.context.caller, code)
    return Program.from_record(record)


async def programs_list(info: GqlInfo, limit: int = 50, cursor: str | None = None) -> ProgramPage:
    check_list_arguments(ListArguments, cursor=cursor)
    page = await programs.list_programs(
        info.context.session, info.context.caller, limit=limit, cursor=cursor
    )
    return ProgramPage(
        items=[Program.from_record(item) for item in page.items], next_cursor=page.next_cursor
    )


async def create_program(info: GqlInfo, input: ProgramCreateInput) -> Program:
    body = ProgramCreate.model_validate(sent_fields(input))
    record = await programs.create_program(info.context.session, info.context.caller, body)
    return Program.from_record(record)


async def update_program(
    info: GqlInfo, code: str, expected_version: int, input: ProgramUpdateInput
) -> Program:
    body = ProgramUpdate.model_validate(sent_fields(input))
    record = await programs.update_program(
        info.context.session, info.context.caller, code, body, if_match=expected_version
    )
    return Program.from_record(record)
