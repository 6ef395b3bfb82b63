"""GraphQL's JSON POSTs are served without the router's walk and FastAPI's dependency solving
once the router has served one (api/hot_routes.py, ``DinsosGraphQLRouter.serve_json_post``):
every answer must be the one the router's path gives (status, headers, body), for queries,
mutations, errors, bad bodies, bad tokens and no token at all."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.edge import EdgeMiddleware
from api.hot_routes import HotRoutes
from tests.factories import ClientFactory, family_body

VILLAGE = "33.28.02.2007"
REQUEST_ID = "hot-graphql-check"

FAMILY = """query Family($id: UUID!) {
  family(id: $id) {
    id noKk villageCode address version
    members { id nik name sex birthDate relationship }
    enrollments { programCode status version }
  }
}"""


def _hot_routes(app: FastAPI) -> HotRoutes:
    layer: Any = app.middleware_stack
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app
    return layer.hot_routes


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


async def _both_paths(
    http: httpx.AsyncClient,
    app: FastAPI,
    headers: dict[str, str],
    *,
    content: bytes,
    content_type: str = "application/json",
) -> tuple[tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]:
    """The same request through the router (the hot table forgotten first), then through the
    hot path the router's answer taught."""
    headers = {**headers, "X-Request-ID": REQUEST_ID, "Content-Type": content_type}
    await http.get("/healthz")  # the app's middleware stack built
    hot = _hot_routes(app)
    hot.learned_posts.clear()
    through_router = _answer(await http.post("/graphql", content=content, headers=headers))
    assert "/graphql" in hot.learned_posts
    through_hot = _answer(await http.post("/graphql", content=content, headers=headers))
    return through_router, through_hot


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


async def test_a_family_read_answers_as_the_router_does(
    http: httpx.AsyncClient, app: FastAPI, clients: ClientFactory
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:write", "kpm:read"])
    sent = family_body(VILLAGE)
    family = (await http.post("/api/v1/kpm", json=sent, headers=writer.headers)).json()
    reader = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
    body = _json({"query": FAMILY, "variables": {"id": family["id"]}})
    router, hot = await _both_paths(http, app, reader.headers, content=body)
    assert router == hot
    assert router[0] == 200
    read = httpx.Response(200, content=hot[2]).json()["data"]["family"]
    assert read["noKk"] == sent["no_kk"]
    assert len(read["members"]) == len(sent["members"])
    # A family that is not there: data null, the error with its code and the request id.
    missing = _json({"query": FAMILY, "variables": {"id": str(uuid.uuid4())}})
    router, hot = await _both_paths(http, app, reader.headers, content=missing)
    assert router == hot
    error = httpx.Response(200, content=hot[2]).json()["errors"][0]
    assert error["extensions"]["code"] == "not_found"
    assert error["extensions"]["request_id"] == REQUEST_ID


async def test_a_mutation_answers_as_the_router_does(
    http: httpx.AsyncClient, app: FastAPI, clients: ClientFactory
) -> None:
    client = await clients(region=VILLAGE, scopes=["webhooks:manage", "changes:read"])
    mutation = """mutation Add($url: String!) {
      createWebhook(input: {url: $url}) { id url }
    }"""
    router, hot = await _both_paths(
        http,
        app,
        client.headers,
        content=_json(
            {
                "query": mutation,
                "variables": {"url": "https://example.org/hook"},
                "operationName": "Add",
            }
        ),
    )
    assert router[0] == hot[0]
    assert router[1] == hot[1]
    first = httpx.Response(200, content=router[2]).json()
    second = httpx.Response(200, content=hot[2]).json()
    # Two subscriptions made, one by each path: the same shape, each its own id.
    assert first.keys() == second.keys()
    made = [first["data"]["createWebhook"], second["data"]["createWebhook"]]
    assert [m["url"] for m in made] == ["https://example.org/hook"] * 2
    assert made[0]["id"] != made[1]["id"]
    listed = await http.post(
        "/graphql", json={"query": "{ webhooks { items { id } } }"}, headers=client.headers
    )
    kept = {item["id"] for item in listed.json()["data"]["webhooks"]["items"]}
    assert kept >= {m["id"] for m in made}


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"{}", "application/json", 400),
        (b'{"query": 5}', "application/json", 400),
        (b'{"query": "{ regions { code } }", "variables": [1]}', "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"query": "{ nothing }"}', "application/json", 200),
        (b'{"query": "{ regions(limit: 2) { code }"}', "application/json", 200),
        (b'{"query": "query A { __typename } query B { __typename }"}', "application/json", 200),
        (
            b'{"query": "query A { __typename } query B { __typename }", "operationName": "B"}',
            "application/json",
            200,
        ),
        (b'{"query": "mutation { __typename }"}', "application/json; charset=utf-8", 200),
    ],
)
async def test_bad_bodies_answer_as_the_router_does(
    http: httpx.AsyncClient,
    app: FastAPI,
    clients: ClientFactory,
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    client = await clients()
    router, hot = await _both_paths(
        http, app, client.headers, content=content, content_type=content_type
    )
    assert router == hot
    assert router[0] == status


async def test_tokens_answer_as_the_router_does(http: httpx.AsyncClient, app: FastAPI) -> None:
    data = _json({"query": "{ regions(limit: 1) { items { code } } }"})
    introspection = _json({"query": "{ __schema { queryType { name } } }"})
    bad = {"Authorization": "Bearer not-a-token"}
    router, hot = await _both_paths(http, app, bad, content=data)
    assert router == hot
    assert router[0] == 401
    # No token: the schema is public, data fields refuse.
    router, hot = await _both_paths(http, app, {}, content=introspection)
    assert router == hot
    assert httpx.Response(200, content=hot[2]).json()["data"]["__schema"]["queryType"] == {
        "name": "Query"
    }
    router, hot = await _both_paths(http, app, {}, content=data)
    assert router == hot
    refused = httpx.Response(200, content=hot[2]).json()
    assert refused["data"] is None
    assert refused["errors"][0]["message"] == "Send a bearer token from POST /oauth/token."


async def test_other_graphql_requests_keep_the_router(
    http: httpx.AsyncClient, app: FastAPI, clients: ClientFactory
) -> None:
    client = await clients()
    await _both_paths(http, app, client.headers, content=_json({"query": "{ __typename }"}))
    # Learned: a GET, GraphiQL, a form and a plain-text body still reach the router's route.
    query = await http.get("/graphql", params={"query": "{ __typename }"}, headers=client.headers)
    assert query.status_code == 200
    assert query.json() == {"data": {"__typename": "Query"}}
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    text = await http.post(
        "/graphql",
        content=b"{ __typename }",
        headers={**client.headers, "Content-Type": "text/plain"},
    )
    assert (text.status_code, text.text) == (400, "Unsupported content type")
    anonymous_upload = await http.post(
        "/graphql", files={"operations": (None, "{}"), "map": (None, "{}")}
    )
    assert anonymous_upload.status_code == 401


async def test_a_cost_is_judged_for_each_page_size_sent(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """The cost is kept per query text and the page sizes sent: the same document is refused
    with a page size over the limit, and answered again with a small one."""
    client = await clients(region=VILLAGE, scopes=["kpm:read"])
    query = "query Page($n: Int!) { families(limit: $n) { items { id } } }"
    codes = []
    for size in (10, 1_000_000, 10, 1_000_000):
        answer = await http.post(
            "/graphql", json={"query": query, "variables": {"n": size}}, headers=client.headers
        )
        body = answer.json()
        codes.append(body["errors"][0]["extensions"]["code"] if "errors" in body else "ok")
    assert codes == ["ok", "query_too_costly", "ok", "query_too_costly"]
