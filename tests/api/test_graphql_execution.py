"""How GraphQL requests run: several root fields in one query, and bad variable values."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Any

import httpx
import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.graphql.plain_fields import PlainLeavesAtOnce
from api.graphql.scalars import SCALARS, Rupiah
from tests.factories import ClientFactory, family_body


async def test_several_root_fields_in_one_query(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """The root fields share the request's database session; they take turns."""
    client = await clients(region="33.28")
    family = family_body()
    created = await http.post("/api/v1/kpm", json=family, headers=client.headers)
    assert created.status_code == 201
    query = (
        "query($k: String!) { programs { items { code } }"
        " families(filter: {noKk: $k}) { items { id } }"
        ' regions(parentCode: "33.28", limit: 3) { items { code parent { name } } } }'
    )
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"k": family["no_kk"]}},
        headers=client.headers,
    )
    body = response.json()
    assert "errors" not in body, body
    assert [f["id"] for f in body["data"]["families"]["items"]] == [created.json()["id"]]
    assert "PKH" in {p["code"] for p in body["data"]["programs"]["items"]}
    assert len(body["data"]["regions"]["items"]) == 3


async def test_a_bad_variable_value_is_the_client_s_error(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    response = await http.post(
        "/graphql",
        json={
            "query": "query($n: Int!) { programs(limit: $n) { items { code } } }",
            "variables": {"n": "many"},
        },
        headers=client.headers,
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "graphql_error"
    assert error["extensions"]["status"] == 400
    assert "$n" in error["message"]


@strawberry.enum
class Colour(Enum):
    RED = "red"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    born: dt.date
    colour: Colour
    amount: Rupiah
    count: int
    owner: uuid.UUID | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


OWNER = uuid.UUID("0b9d3c1e-5f7a-4e2b-9c8d-1a2b3c4d5e6f")


def _thing(**values: Any) -> Thing:
    fields: dict[str, Any] = {
        "name": "a",
        "nickname": None,
        "born": dt.date(2020, 1, 2),
        "colour": Colour.RED,
        "amount": Rupiah(10**12),
        "count": 3,
    }
    return Thing(**{**fields, **values})


@strawberry.type
class Things:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [
            _thing(),
            _thing(name="b", nickname="bee", amount=Rupiah(0), count=-1, owner=OWNER),
            # Each a field error, reported by graphql-core's own path: a null for a non-null
            # field, a value the enum does not know, an Int past 32 bits.
            _thing(name=None),
            _thing(colour="blue"),
            _thing(count=2**40),
        ]


async def test_plain_fields_answer_as_graphql_core_does() -> None:
    """api/graphql/plain_fields.py reads plain leaf fields at once: the same data and errors."""
    query = "{ things { name nickname born colour amount count owner shout n: name __typename } }"
    answers = []
    for execution in (StrawberryGraphQLCoreExecutionContext, PlainLeavesAtOnce):
        schema = strawberry.Schema(
            query=Things,
            config=StrawberryConfig(scalar_map=SCALARS),
            execution_context_class=execution,
        )
        result = await schema.execute(query)
        answers.append((result.data, [error.formatted for error in result.errors or ()]))
    plain, core = answers[1], answers[0]
    assert plain == core
    data, errors = plain
    assert data is not None
    assert data["things"][0] == {
        "name": "a",
        "nickname": None,
        "born": "2020-01-02",
        "colour": "RED",
        "amount": 10**12,
        "count": 3,
        "owner": None,
        "shout": "A",
        "n": "a",
        "__typename": "Thing",
    }
    assert data["things"][1]["nickname"] == "bee"
    assert data["things"][1]["owner"] == str(OWNER)
    assert data["things"][2:] == [None, None, None]
    assert [error["path"] for error in errors] == [
        ["things", 2, "name"],
        ["things", 3, "colour"],
        ["things", 4, "count"],
    ]
