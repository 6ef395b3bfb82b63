"""How GraphQL uses the database (api/graphql/units_of_work.py): a root field may await a
loader, a mutation's nested fields show what it wrote, a refused mutation takes only its own
writes with it, and an unmasked read is audited."""

from __future__ import annotations

import asyncio

import httpx
import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.units_of_work import RootFieldsInTurn
from service.audit.tables import AuditEntry
from tests.api.graphql_calls import gql
from tests.api.kube_setup import create_group, families
from tests.factories import ClientFactory

OFFICE = ["kpm:read", "kpm:write", "kube:read", "kube:write"]
# Committed data (the live tests) goes to Takisung, Tanah Laut, where no other test looks.
TAKISUNG = "63.01.01.2001"
GUCI = "33.28.02.2001"

ADD_TWO = """mutation($g: UUID!, $f1: UUID!, $f2: UUID!) {
    first: addKubeMember(groupId: $g, input: {familyId: $f1}) { members { familyId } }
    second: addKubeMember(groupId: $g, input: {familyId: $f2}) { members { familyId } }
}"""


@strawberry.type
class RegionNames:
    """No field of the schema awaits a loader at the root yet; this one does."""

    @strawberry.field
    async def region_name(self, info: Info[GraphQLContext, None], code: str) -> str | None:
        region = await info.context.loaders.region_by_code.load(code)
        return region.name if region else None


async def test_a_root_field_may_await_a_loader(
    sessions: async_sessionmaker[AsyncSession], read_sessions: async_sessionmaker[AsyncSession]
) -> None:
    # With the loaders taking turns on the request's session behind the root field's lock,
    # this waited forever: the root field held the lock its loader needed.
    schema = strawberry.Schema(query=RegionNames, execution_context_class=RootFieldsInTurn)
    context = GraphQLContext(
        open_session=sessions, read_sessions=read_sessions, optional_caller=None
    )
    try:
        result = await asyncio.wait_for(
            schema.execute(
                '{ a: regionName(code: "33.28") b: regionName(code: "33") }',
                context_value=context,
            ),
            timeout=30,
        )
    finally:
        await context.close()
    assert result.errors is None
    assert result.data == {"a": "Kabupaten Tegal", "b": "Jawa Tengah"}


async def test_a_mutation_s_nested_fields_show_its_writes(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    # On separate connections, as in production: the loaders' sessions see only what is
    # committed, so each mutation must have committed before its nested fields are read, and
    # the second must not be served the members the loader cached for the first.
    office = await live_clients(region=TAKISUNG, scopes=OFFICE)
    ketua, first, second = await families(live_http, office, 3, TAKISUNG)
    group_id = str((await create_group(live_http, office, [ketua], village_code=TAKISUNG))["id"])

    result = await gql(live_http, office, ADD_TWO, g=group_id, f1=first, f2=second)

    assert "errors" not in result, result
    data = result["data"]
    assert {m["familyId"] for m in data["first"]["members"]} == {ketua, first}
    assert {m["familyId"] for m in data["second"]["members"]} == {ketua, first, second}


async def test_a_refused_mutation_keeps_the_other_mutations_writes(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    ketua, member = await families(http, office, 2, GUCI)
    group_id = str((await create_group(http, office, [ketua], village_code=GUCI))["id"])
    refused = "7d1f8a2e-0000-4000-8000-000000000000"  # no such family

    result = await gql(http, office, ADD_TWO, g=group_id, f1=member, f2=refused)

    assert [error["path"] for error in result["errors"]] == [["second"]]
    read = await http.get(f"/api/v1/kube/{group_id}", headers=office.headers)
    assert {m["family_id"] for m in read.json()["members"]} == {ketua, member}


async def test_an_unmasked_read_is_audited(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28", scopes=["kpm:read", "kpm:write"])
    (family_id,) = await families(http, writer, 1, GUCI)
    reader = await clients(region="33.28", scopes=["kpm:read", "pii:read"])

    result = await gql(
        http, reader, "query($id: UUID!) { family(id: $id) { members { nik } } }", id=family_id
    )

    assert "*" not in result["data"]["family"]["members"][0]["nik"]
    reads = await session.scalars(
        select(col(AuditEntry.record_id)).where(
            col(AuditEntry.action) == "read_pii", col(AuditEntry.client_id) == reader.client_id
        )
    )
    assert [str(record_id) for record_id in reads] == [family_id]
