"""A query text the hot GraphQL path has executed once is answered from its plan the next time
(api/graphql/prepared_reads.py): without graphql-core, yet with the very answer the general path
gives. This proves, against a real PostgreSQL:

- the answer from a plan (status, headers, body bytes) is the general path's and the router's,
  for the full family read (unmasked and masked), for aliases, fragments, ``__typename``,
  literals and several root fields, and for the errors a read can meet (not found, outside the
  caller's region, a missing scope, a null in a non-null root);
- a prepared read of unmasked personal data is audited once, as any read;
- whatever the general path refuses before running anything (a bad or missing variable, no
  token, a revoked client) is still refused in the general path's own words;
- documents the plans do not do (resolvers beneath, directives, lists, mutations,
  introspection, a variable no root takes) get no plan and keep their answer;
- and, with no database, a plan completes broken values (nulls where none may be, values a
  scalar refuses) into the same data and the same errors as graphql-core's execution."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry
from fastapi import FastAPI
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.edge import EdgeMiddleware
from api.graphql import prepared_reads
from api.graphql.context import GraphQLContext
from api.graphql.permissions import IsAuthenticated
from api.graphql.prepared_reads import Plan, PreparedReads
from api.graphql.units_of_work import RootFieldsInTurn
from api.hot_routes import HotRoutes
from bench.pairs.graphql_family import QUERY as FULL_FAMILY
from service.access import Caller
from service.audit.tables import AuditEntry
from service.auth import clients as auth_clients
from tests.factories import ClientFactory, IssuedClient, family_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

VILLAGE = "33.28.02.2007"
OTHER_VILLAGE = "33.28.02.2008"
REQUEST_ID = "prepared-reads-check"
READER = ["kpm:read", "pii:read"]

Answer = tuple[int, dict[str, str], bytes]
Body = dict[str, Any]

# FULL_FAMILY is the graphql-family bench pair's query: every plain field of Family, Member
# and Enrollment.
SMALL_FAMILY = "query($id: UUID!) { family(id: $id) { id noKk members { nik } } }"


def _hot_routes(app: FastAPI) -> HotRoutes:
    layer: Any = app.middleware_stack
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app
    return layer.hot_routes


def _prepared(app: FastAPI) -> PreparedReads:
    reads: PreparedReads = _hot_routes(app).json_posts["/graphql"].__self__.prepared_reads  # type: ignore[attr-defined]
    return reads


def _key(body: Body) -> tuple[str, str | None]:
    return body["query"], body.get("operationName")


def _answer(response: httpx.Response) -> Answer:
    return response.status_code, dict(response.headers), response.content


def _json(answer: Answer) -> Any:
    return json.loads(answer[2])


@pytest.fixture
def plan_answers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any] | None]:
    """What ``Plan.answer`` returned, call by call: a request answered from a plan appends its
    response, one left to the general path appends None. Without it a test could not tell a
    prepared answer from a general one, which is the whole point of comparing them."""
    returned: list[dict[str, Any] | None] = []
    original = Plan.answer

    async def answer(self: Plan, context: GraphQLContext, variables: Any) -> Any:
        result = await original(self, context, variables)
        returned.append(result)
        return result

    monkeypatch.setattr(Plan, "answer", answer)
    return returned


async def _send(http: httpx.AsyncClient, body: Body, headers: dict[str, str]) -> Answer:
    headers = {**headers, "X-Request-ID": REQUEST_ID, "Content-Type": "application/json"}
    return _answer(await http.post("/graphql", content=json.dumps(body).encode(), headers=headers))


async def _three_ways(
    http: httpx.AsyncClient,
    app: FastAPI,
    answers: list[dict[str, Any] | None],
    body: Body,
    headers: dict[str, str],
    *,
    plannable: bool | None,
) -> tuple[Answer, Answer, Answer]:
    """One read (no writes, so every path must answer it alike) sent (1) through the router,
    (2) through the hot general path, which learns its plan, (3) again: from the plan when it
    is plannable. ``plannable`` None: a document that leaves nothing kept (refused before
    execution, or no query: a mutation). Returns the three answers after checking they are
    identical."""
    await http.get("/healthz")  # the app's middleware stack built
    hot, reads = _hot_routes(app), _prepared(app)
    hot.learned_posts.clear()
    reads.plans.clear()
    through_router = await _send(http, body, headers)
    assert "/graphql" in hot.learned_posts
    assert _key(body) not in reads.plans  # the router's path does not learn
    general = await _send(http, body, headers)
    if plannable is None:
        assert _key(body) not in reads.plans, "the document reached execution"
    else:
        assert _key(body) in reads.plans, "the document did not reach execution"
        assert (reads.plans[_key(body)] is not None) is plannable
    answers.clear()
    prepared = await _send(http, body, headers)
    if plannable:  # really answered from the plan, not handed back to the general path
        assert len(answers) == 1
        assert answers[0] is not None
    else:
        assert answers == []
    assert general == prepared
    assert through_router == general
    return through_router, general, prepared


async def _family(
    http: httpx.AsyncClient, writer: IssuedClient, village: str = VILLAGE
) -> tuple[Body, Body]:
    """A family of three with two enrollments (PKH from its creation, PK3E added): what was
    sent and what REST answered."""
    sent = family_body(village)
    created = await http.post("/api/v1/kpm", json=sent, headers=writer.headers)
    assert created.status_code == 201, created.text
    enrolled = await http.post(
        f"/api/v1/kpm/{created.json()['id']}/enrollments",
        json={"program_code": "PK3E"},
        headers=writer.headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    read = await http.get(f"/api/v1/kpm/{created.json()['id']}", headers=writer.headers)
    assert read.status_code == 200, read.text
    return sent, read.json()


async def _writer(clients: ClientFactory, region: str = VILLAGE) -> IssuedClient:
    return await clients(region=region)  # every scope


# --- 1. the full family read ----------------------------------------------------------------


async def test_the_full_family_read_unmasked(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    sent, rest = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    body = {"query": FULL_FAMILY, "variables": {"id": rest["id"]}, "operationName": "Family"}
    *_, prepared = await _three_ways(http, app, plan_answers, body, reader.headers, plannable=True)
    assert prepared[0] == 200
    answer = _json(prepared)
    assert "errors" not in answer
    family = answer["data"]["family"]
    assert family["id"] == rest["id"]
    assert family["noKk"] == sent["no_kk"]  # unmasked
    assert family["villageCode"] == VILLAGE
    assert (family["address"], family["desil"]) == (sent["address"], sent["desil"])
    assert family["version"] == rest["version"]
    assert family["archivedAt"] is None
    people = {(m["nik"], m["name"], m["birthDate"], m["relationship"]) for m in family["members"]}
    assert people == {
        (m["nik"], m["name"], m["birth_date"], m["relationship"]) for m in sent["members"]
    }
    programs = {(e["programCode"], e["status"]) for e in family["enrollments"]}
    assert programs == {(e["program_code"], e["status"]) for e in rest["enrollments"]}
    assert {code for code, _ in programs} == {"PKH", "PK3E"}


async def test_the_full_family_read_masked(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    sent, created = await _family(http, await _writer(clients))
    masked = await clients(region=VILLAGE, scopes=["kpm:read"])
    body = {"query": FULL_FAMILY, "variables": {"id": created["id"]}}
    *_, prepared = await _three_ways(http, app, plan_answers, body, masked.headers, plannable=True)
    family = _json(prepared)["data"]["family"]
    rest = (await http.get(f"/api/v1/kpm/{created['id']}", headers=masked.headers)).json()
    assert family["noKk"] == rest["no_kk"] != sent["no_kk"]
    assert family["noKk"].endswith("*" * 10)
    assert sorted(m["nik"] for m in family["members"]) == sorted(m["nik"] for m in rest["members"])
    assert all(m["nik"].endswith("*") for m in family["members"])
    assert {m["id"] for m in family["members"]} == {m["id"] for m in rest["members"]}


# --- 2. the audit of an unmasked read --------------------------------------------------------


async def _audited_reads(session: AsyncSession, reader: IssuedClient) -> list[str]:
    rows = await session.scalars(
        select(col(AuditEntry.record_id)).where(
            col(AuditEntry.action) == "read_pii",
            col(AuditEntry.client_id) == uuid.UUID(reader.client_id),
        )
    )
    return [str(record) for record in rows.all()]


async def test_each_prepared_unmasked_read_is_audited_once(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    session: AsyncSession,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    _, family = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    body = {"query": SMALL_FAMILY, "variables": {"id": family["id"]}}
    await _three_ways(http, app, plan_answers, body, reader.headers, plannable=True)
    assert await _audited_reads(session, reader) == [family["id"]] * 3  # one for each way
    for reads in (4, 5):
        plan_answers.clear()
        answer = await _send(http, body, reader.headers)
        assert plan_answers[0] is not None  # from the plan
        assert _json(answer)["data"]["family"]["id"] == family["id"]
        assert await _audited_reads(session, reader) == [family["id"]] * reads
    # A masked prepared read writes none.
    masked = await clients(region=VILLAGE, scopes=["kpm:read"])
    plan_answers.clear()
    await _send(http, body, masked.headers)
    assert plan_answers[0] is not None
    assert await _audited_reads(session, masked) == []


# --- 3. shapes a plan takes -----------------------------------------------------------------

# Each: the body made from (first family id, second family id), whether a plan is made, and
# what its data must say given those ids.
Shape = tuple[Callable[[str, str], Body], bool, Callable[[Any, str, str], None]]


def _check_aliases(data: Any, a: str, b: str) -> None:
    assert data["fam"]["key"] == a
    assert data["fam"]["people"][0].keys() == {"who", "kind"}
    assert len(data["fam"]["people"]) == 3


def _check_fragments(data: Any, a: str, b: str) -> None:
    family = data["family"]
    assert family["id"] == a
    assert list(family) == ["id", "noKk", "members", "version", "villageCode"]  # in order
    assert len(family["members"]) == 3


def _check_typenames(data: Any, a: str, b: str) -> None:
    assert data["family"]["__typename"] == "Family"
    assert {m["t"] for m in data["family"]["members"]} == {"Member"}
    assert {e["__typename"] for e in data["family"]["enrollments"]} == {"Enrollment"}


def _check_root_typename(data: Any, a: str, b: str) -> None:
    assert data == {"__typename": "Query", "family": {"id": a}}


def _check_subset(data: Any, a: str, b: str) -> None:
    assert data == {"family": {"villageCode": VILLAGE}}


def _check_one(data: Any, a: str, b: str) -> None:
    assert data == {"family": {"id": a}}


def _check_two(data: Any, a: str, b: str) -> None:
    assert data == {"a": {"id": a}, "b": {"id": b}}


def _check_family_and_region(data: Any, a: str, b: str) -> None:
    assert data["family"] == {"id": a, "villageCode": VILLAGE}
    assert data["region"] == {
        "code": VILLAGE,
        "level": "VILLAGE",
        "parentCode": "33.28.02",
        "__typename": "Region",
    }


def _check_region(data: Any, a: str, b: str) -> None:
    assert data["region"]["code"] == "33.28.02"
    assert data["region"]["level"] == "DISTRICT"
    assert data["region"]["parentCode"] == "33.28"
    assert data["region"]["name"]


SHAPES: dict[str, Shape] = {
    "aliases": (
        lambda a, b: {
            "query": "query($id: UUID!) { fam: family(id: $id) { key: id "
            "people: members { who: name kind: relationship } } }",
            "variables": {"id": a},
        },
        True,
        _check_aliases,
    ),
    "named and inline fragments": (
        lambda a, b: {
            "query": "query Q($id: UUID!) { family(id: $id) { ...Numbers ... on Family "
            "{ version } ... { villageCode } } } "
            "fragment Numbers on Family { id noKk members { nik } }",
            "variables": {"id": a},
            "operationName": "Q",
        },
        True,
        _check_fragments,
    ),
    "nested __typename": (
        lambda a, b: {
            "query": "query($id: UUID!) { family(id: $id) { __typename "
            "members { t: __typename } enrollments { __typename } } }",
            "variables": {"id": a},
        },
        True,
        _check_typenames,
    ),
    # The root's __typename is no resolver of CONTEXT_RESOLVERS: left to the general path.
    "root __typename": (
        lambda a, b: {
            "query": "query($id: UUID!) { __typename family(id: $id) { id } }",
            "variables": {"id": a},
        },
        False,
        _check_root_typename,
    ),
    "a subset": (
        lambda a, b: {
            "query": "query($id: UUID!) { family(id: $id) { villageCode } }",
            "variables": {"id": a},
        },
        True,
        _check_subset,
    ),
    "a literal id": (
        lambda a, b: {"query": f'{{ family(id: "{a}") {{ id }} }}'},
        True,
        _check_one,
    ),
    "the operation named among two": (
        lambda a, b: {
            "query": "query A($id: UUID!) { family(id: $id) { noKk } } "
            "query B($id: UUID!) { family(id: $id) { id } }",
            "variables": {"id": a},
            "operationName": "B",
        },
        True,
        _check_one,
    ),
    "two families": (
        lambda a, b: {
            "query": "query($a: UUID!, $b: UUID!) { a: family(id: $a) { id } "
            "b: family(id: $b) { id } }",
            "variables": {"a": a, "b": b},
        },
        True,
        _check_two,
    ),
    "a family and a region": (
        lambda a, b: {
            "query": "query($id: UUID!) { family(id: $id) { id villageCode } "
            f'region(code: "{VILLAGE}") {{ code level parentCode __typename }} }}',
            "variables": {"id": a},
        },
        True,
        _check_family_and_region,
    ),
    "a region alone": (
        lambda a, b: {
            "query": "query($c: String!) { region(code: $c) { code name level parentCode } }",
            "variables": {"c": "33.28.02"},
        },
        True,
        _check_region,
    ),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_shapes_answer_as_the_general_path(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
    shape: Shape,
) -> None:
    make, plannable, check = shape
    writer = await _writer(clients)
    (_, first), (_, second) = await _family(http, writer), await _family(http, writer)
    reader = await clients(region=VILLAGE, scopes=READER)
    body = make(first["id"], second["id"])
    *_, prepared = await _three_ways(
        http, app, plan_answers, body, reader.headers, plannable=plannable
    )
    answer = _json(prepared)
    assert "errors" not in answer, answer
    check(answer["data"], first["id"], second["id"])


# --- 4. errors ------------------------------------------------------------------------------

TWO = "query($a: UUID!, $b: UUID!) { a: family(id: $a) { id } b: family(id: $b) { id } }"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing", "not_found"),
        ("elsewhere", "not_found"),
        ("second missing", "not_found"),
        ("no kpm:read", "insufficient_scope"),
    ],
)
async def test_errors_answer_as_the_general_path(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
    case: str,
    code: str,
) -> None:
    _, here = await _family(http, await _writer(clients))
    _, there = await _family(http, await _writer(clients, OTHER_VILLAGE), OTHER_VILLAGE)
    reader = await clients(region=VILLAGE, scopes=READER)
    body: Body = {"query": SMALL_FAMILY, "variables": {"id": str(uuid.uuid4())}}
    path = ["family"]
    if case == "elsewhere":
        body["variables"] = {"id": there["id"]}
        # REST refuses it alike.
        rest = await http.get(f"/api/v1/kpm/{there['id']}", headers=reader.headers)
        assert (rest.status_code, rest.json()["code"]) == (404, "not_found")
    elif case == "second missing":
        body = {"query": TWO, "variables": {"a": here["id"], "b": str(uuid.uuid4())}}
        path = ["b"]
    elif case == "no kpm:read":
        body["variables"] = {"id": here["id"]}
        reader = await clients(region=VILLAGE, scopes=["pii:read", "kube:read"])
    *_, prepared = await _three_ways(http, app, plan_answers, body, reader.headers, plannable=True)
    assert prepared[0] == 200
    answer = _json(prepared)
    # family is non-null: its error nulls the whole data, the first family read or not.
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["request_id"] == REQUEST_ID
    assert error["path"] == path


# --- 5. refusals before execution, with a plan present --------------------------------------

FALLBACKS: dict[str, tuple[Callable[[str], Body], bool, str]] = {
    # name: (the bad body from a family id, whether a token is sent, the refusal's code: ""
    # for graphql-core's refusal of a variable, before execution)
    "missing variable": (lambda id: {"query": SMALL_FAMILY, "variables": {}}, True, ""),
    "null variable": (lambda id: {"query": SMALL_FAMILY, "variables": {"id": None}}, True, ""),
    "malformed uuid": (
        lambda id: {"query": SMALL_FAMILY, "variables": {"id": id[:-1] + "x"}},
        True,
        "",
    ),
    "number for uuid": (lambda id: {"query": SMALL_FAMILY, "variables": {"id": 7}}, True, ""),
    "variables absent": (lambda id: {"query": SMALL_FAMILY}, True, ""),
    "no token": (
        lambda id: {"query": SMALL_FAMILY, "variables": {"id": id}},
        False,
        "unauthorized",
    ),
}


@pytest.mark.parametrize("fallback", FALLBACKS.values(), ids=FALLBACKS.keys())
async def test_refusals_before_execution_keep_the_general_answer(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
    fallback: tuple[Callable[[str], Body], bool, str],
) -> None:
    make, with_token, code = fallback
    _, family = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    good = {"query": SMALL_FAMILY, "variables": {"id": family["id"]}}
    await _three_ways(http, app, plan_answers, good, reader.headers, plannable=True)
    bad, headers = make(family["id"]), reader.headers if with_token else {}
    plan_answers.clear()
    with_plan = await _send(http, bad, headers)
    assert plan_answers == [None]  # the plan was asked, and left it to the general path
    reads = _prepared(app)
    reads.plans.clear()
    general = await _send(http, bad, headers)
    # A bad variable is refused before execution and teaches nothing; without a token the
    # document executes (the permission refuses the field) and is learned again.
    assert (_key(bad) in reads.plans) is (not with_token)
    assert with_plan == general
    answer = _json(general)
    assert answer["data"] is None
    [error] = answer["errors"]
    if code:
        assert error["extensions"]["code"] == code
    else:  # graphql-core's refusal of the variable
        assert error["message"].startswith("Variable '$id'")


REFUSED_BODIES: dict[str, tuple[str, Callable[[str], bytes]]] = {
    # name: (the content type, the body from a family id). Strawberry refuses the first three
    # with a 400 before parsing; the big integer is a variable graphql-core refuses.
    "content type in capitals": (
        "Application/JSON",
        lambda id: json.dumps({"query": SMALL_FAMILY, "variables": {"id": id}}).encode(),
    ),
    "json only in a parameter": (
        "text/plain; charset=application/json",
        lambda id: json.dumps({"query": SMALL_FAMILY, "variables": {"id": id}}).encode(),
    ),
    "extensions not an object": (
        "application/json",
        lambda id: json.dumps(
            {"query": SMALL_FAMILY, "variables": {"id": id}, "extensions": "x"}
        ).encode(),
    ),
    "an integer past 64 bits": (
        "application/json",
        # json writes the integer whole (orjson, reading it, would make it a float)
        lambda id: json.dumps(
            {"query": SMALL_FAMILY, "variables": {"id": 123456789012345678901234567890}}
        ).encode(),
    ),
}


@pytest.mark.parametrize("refused", REFUSED_BODIES.values(), ids=REFUSED_BODIES.keys())
async def test_bodies_strawberry_refuses_keep_its_answer(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
    refused: tuple[str, Callable[[str], bytes]],
) -> None:
    content_type, make = refused
    _, family = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    good = {"query": SMALL_FAMILY, "variables": {"id": family["id"]}}
    await _three_ways(http, app, plan_answers, good, reader.headers, plannable=True)
    headers = {**reader.headers, "X-Request-ID": REQUEST_ID, "Content-Type": content_type}

    async def send() -> Answer:
        return _answer(await http.post("/graphql", content=make(family["id"]), headers=headers))

    plan_answers.clear()
    with_plan = await send()
    assert all(answer is None for answer in plan_answers)  # never answered from the plan
    _prepared(app).plans.clear()
    general = await send()
    assert with_plan == general
    if content_type == "application/json" and b"extensions" not in make(family["id"]):
        assert general[0] == 200
        assert _json(general)["errors"][0]["message"].startswith("Variable '$id'")
    else:
        assert general[0] == 400


async def test_a_revoked_client_is_refused_with_a_plan_present(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    session: AsyncSession,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    _, family = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    body = {"query": SMALL_FAMILY, "variables": {"id": family["id"]}}
    await _three_ways(http, app, plan_answers, body, reader.headers, plannable=True)
    await auth_clients.revoke_client(session, auth_clients.operator(), reader.client_id)
    await session.flush()
    plan_answers.clear()
    with_plan = await _send(http, body, reader.headers)
    assert plan_answers == []  # refused with the token, before any plan is looked at
    reads = _prepared(app)
    assert reads.plan_of(*_key(body)) is not None
    reads.plans.clear()
    general = await _send(http, body, reader.headers)
    assert with_plan == general
    assert general[0] == 401


# --- 6. documents with no plan --------------------------------------------------------------

UNPLANNED: dict[str, Callable[[str, str], Body]] = {
    "a resolver beneath (verifications)": lambda id, code: {
        "query": "query($id: UUID!) { family(id: $id) { id verifications { outcome } } }",
        "variables": {"id": id},
    },
    "a resolver beneath (enrollment history)": lambda id, code: {
        "query": "query($id: UUID!) { family(id: $id) { enrollments { history { toStatus } } } }",
        "variables": {"id": id},
    },
    "a resolver beneath (region parent)": lambda id, code: {
        "query": "query($c: String!) { region(code: $c) { code parent { code } } }",
        "variables": {"c": code},
    },
    "a directive": lambda id, code: {
        "query": "query($id: UUID!, $x: Boolean!) { family(id: $id) { id noKk @include(if: $x) } }",
        "variables": {"id": id, "x": False},
    },
    "a list": lambda id, code: {"query": "{ families(limit: 2) { items { id } } }"},
    "introspection": lambda id, code: {"query": "{ __schema { queryType { name } } }"},
    "a response name twice": lambda id, code: {
        "query": "query($id: UUID!) { family(id: $id) { id id } }",
        "variables": {"id": id},
    },
}


@pytest.mark.parametrize("make", UNPLANNED.values(), ids=UNPLANNED.keys())
async def test_documents_without_a_plan_keep_their_answer(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
    make: Callable[[str, str], Body],
) -> None:
    _, family = await _family(http, await _writer(clients))
    reader = await clients(region=VILLAGE, scopes=READER)
    *_, general = await _three_ways(
        http, app, plan_answers, make(family["id"], VILLAGE), reader.headers, plannable=False
    )
    answer = _json(general)
    assert general[0] == 200
    assert "errors" not in answer, answer
    assert answer["data"]


async def test_a_mutation_is_not_kept(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    """A mutation runs each time through Strawberry and takes no room among the plans: a
    client writing with its values in the text would otherwise push the reads' plans out."""
    reader = await clients(region=VILLAGE, scopes=READER)
    body = {"query": "mutation { __typename }"}
    *_, general = await _three_ways(http, app, plan_answers, body, reader.headers, plannable=None)
    assert _json(general) == {"data": {"__typename": "Mutation"}}


async def test_a_document_refused_by_validation_learns_nothing(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    plan_answers: list[dict[str, Any] | None],
) -> None:
    """A declared variable no field takes is refused by validation (the spec's "All Variables
    Used"), so ``plan``'s own check of it is met only below, in
    ``test_a_variable_no_root_takes_gets_no_plan``."""
    reader = await clients(region=VILLAGE, scopes=READER)
    body = {
        "query": "query($id: UUID!, $unused: Int) { family(id: $id) { id } }",
        "variables": {"id": str(uuid.uuid4()), "unused": 3},
    }
    *_, general = await _three_ways(http, app, plan_answers, body, reader.headers, plannable=None)
    answer = _json(general)
    assert answer["data"] is None
    assert "$unused" in answer["errors"][0]["message"]


# --- 7. completion of broken values, without a database -------------------------------------


@strawberry.enum
class Kind(enum.Enum):
    ROUND = "round"


@strawberry.type
class Part:
    label: str
    note: str | None


@strawberry.type
class Thing:
    name: str | None
    count: int
    parts: list[Part]
    kind: Kind | None
    seen: dt.date | None
    tags: list[str | None] | None
    best: Part | None


# What the context-only resolver returns (or raises); set by the test.
BROKEN: dict[str, Any] = {}


async def thing_of(context: GraphQLContext, id: uuid.UUID) -> Any:
    value = BROKEN["value"]
    if isinstance(value, Exception):
        raise value
    return value


async def thing(info: strawberry.Info[GraphQLContext, None], id: uuid.UUID) -> Thing:
    return await thing_of(info.context, id)  # type: ignore[no-any-return]


async def maybe_thing(info: strawberry.Info[GraphQLContext, None], id: uuid.UUID) -> Thing | None:
    return await thing_of(info.context, id)  # type: ignore[no-any-return]


@strawberry.type
class ThingQuery:
    thing: Thing = strawberry.field(resolver=thing, permission_classes=[IsAuthenticated])
    maybe_thing: Thing | None = strawberry.field(
        resolver=maybe_thing, permission_classes=[IsAuthenticated]
    )


THING_SCHEMA = strawberry.Schema(query=ThingQuery, execution_context_class=RootFieldsInTurn)
SELECTION = "{ name count parts { label note } kind seen tags best { label note } }"
THING_QUERIES = {
    "non-null root": f"query($id: UUID!) {{ thing(id: $id) {SELECTION} }}",
    "nullable root": f"query($id: UUID!) {{ maybeThing(id: $id) {SELECTION} }}",
    "both roots": f"query($id: UUID!) {{ m: maybeThing(id: $id) {SELECTION} "
    f"thing(id: $id) {SELECTION} }}",
}


def _part(label: Any = "l", note: Any = None) -> SimpleNamespace:
    return SimpleNamespace(label=label, note=note)


def _thing(**fields: Any) -> SimpleNamespace:
    sound = {
        "name": "a",
        "count": 1,
        "parts": [_part()],
        "kind": Kind.ROUND,
        "seen": dt.date(2026, 3, 2),
        "tags": ["x", None],
        "best": _part(note="n"),
    }
    return SimpleNamespace(**{**sound, **fields})


BROKEN_VALUES: dict[str, Any] = {
    "sound": _thing(),
    "null in a nullable field": _thing(name=None),
    "null in a non-null field": _thing(count=None),
    "a str for an Int": _thing(count="many"),
    "a float for an Int": _thing(count=1.5),
    "an Int past 32 bits": _thing(count=2**40),
    "an exception as a value": _thing(name=ValueError("no name")),
    "null list": _thing(parts=None),
    "not a list": _thing(parts=5),
    "null item in a non-null list": _thing(parts=[_part(), None]),
    "null inside a list item": _thing(parts=[_part(), _part(label=None, note="n")]),
    "a refused value inside a list item": _thing(parts=[_part(note=object())]),
    "a value the enum refuses": _thing(kind="square"),
    "a str for a Date": _thing(seen="2026-03-02"),
    "a refused item in a nullable list": _thing(tags=["x", object(), None]),
    "a str for a list": _thing(tags="xy"),
    "null in a nullable object": _thing(best=None),
    "null inside a nullable object": _thing(best=_part(label=None)),
    "an attribute missing": SimpleNamespace(count=1, parts=[]),
    "null object": None,
    "the resolver raises": LookupError("gone"),
}


def _context(caller: Caller | None) -> GraphQLContext:
    def no_session() -> Any:
        raise AssertionError("nothing here opens a session")

    return GraphQLContext(
        open_session=no_session,  # type: ignore[arg-type]
        read_sessions=no_session,  # type: ignore[arg-type]
        optional_caller=caller,
    )


CALLER = Caller(client_id=uuid.uuid4(), name="test", scopes=frozenset(), region_code=None)


def _thing_plan(query: str) -> Plan | None:
    document = parse(query)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return prepared_reads.plan(THING_SCHEMA._schema, operations[0], fragments)


@pytest.mark.parametrize("value", BROKEN_VALUES.values(), ids=BROKEN_VALUES.keys())
@pytest.mark.parametrize("query", THING_QUERIES.values(), ids=THING_QUERIES.keys())
async def test_a_plan_completes_values_as_graphql_core(
    monkeypatch: pytest.MonkeyPatch, query: str, value: Any
) -> None:
    monkeypatch.setitem(prepared_reads.CONTEXT_RESOLVERS, thing, thing_of)
    monkeypatch.setitem(prepared_reads.CONTEXT_RESOLVERS, maybe_thing, thing_of)
    monkeypatch.setitem(BROKEN, "value", value)
    plan = _thing_plan(query)
    assert plan is not None
    variables = {"id": str(uuid.uuid4())}
    prepared = await plan.answer(_context(CALLER), variables)
    executed = await THING_SCHEMA.execute(
        query, variable_values=variables, context_value=_context(CALLER)
    )
    assert prepared is not None
    assert prepared["data"] == executed.data
    assert [e.formatted for e in prepared.get("errors", [])] == [
        e.formatted for e in executed.errors or []
    ]


async def test_a_plan_of_the_tiny_schema_leaves_no_caller_to_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(prepared_reads.CONTEXT_RESOLVERS, thing, thing_of)
    monkeypatch.setitem(BROKEN, "value", _thing())
    plan = _thing_plan(THING_QUERIES["non-null root"])
    assert plan is not None
    assert await plan.answer(_context(None), {"id": str(uuid.uuid4())}) is None
    assert await plan.answer(_context(CALLER), {"id": "not-a-uuid"}) is None
    assert await plan.answer(_context(CALLER), {}) is None
    # Without the resolver in CONTEXT_RESOLVERS there is no plan at all.
    monkeypatch.delitem(prepared_reads.CONTEXT_RESOLVERS, thing)
    assert _thing_plan(THING_QUERIES["non-null root"]) is None


def test_a_variable_no_root_takes_gets_no_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """graphql-core checks every declared variable's value; a plan checks only its roots'. (A
    valid document cannot declare one unused; ``plan`` is given operations unvalidated here.)"""
    monkeypatch.setitem(prepared_reads.CONTEXT_RESOLVERS, thing, thing_of)
    assert _thing_plan("query($id: UUID!) { thing(id: $id) { count } }") is not None
    assert _thing_plan("query($id: UUID!, $n: Int) { thing(id: $id) { count } }") is None
