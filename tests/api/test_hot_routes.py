"""The hot reads (a region by code, a family by id) are served without the router's walk once
the router has matched one of them (api/hot_routes.py): every later answer must be the one the
router's path gives, errors included, and every other path must still reach its own route."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.deps import get_standalone_caller
from api.edge import EdgeMiddleware
from service.access import Caller
from service.errors import Forbidden
from tests.factories import ClientFactory, family_body

VILLAGE = "33.28.02.2007"
REQUEST_ID = "hot-route-check"


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


async def _twice(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[object]:
    """The same request twice: the first through the router (which teaches the hot route),
    the second through the hot route."""
    headers = {**headers, "X-Request-ID": REQUEST_ID}
    return [_answer(await http.get(path, headers=headers)) for _ in range(2)]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/regions/33.28.02.2001", 200),
        ("/api/v1/regions/3328022001", 200),
        ("/api/v1/regions/99.99", 404),
        ("/api/v1/regions/33.2", 422),
    ],
)
async def test_a_region_answers_as_the_router_does(
    http: httpx.AsyncClient, clients: ClientFactory, path: str, status: int
) -> None:
    client = await clients(region="33.28.02.2001")
    first, second = await _twice(http, path, client.headers)
    assert first == second
    assert first[0] == status  # type: ignore[index]


@pytest.mark.parametrize("scopes", [["kpm:read"], ["kpm:read", "pii:read"]])
async def test_a_family_answers_as_the_router_does(
    http: httpx.AsyncClient, clients: ClientFactory, scopes: list[str]
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:write", "kpm:read"])
    family = (
        await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)
    ).json()
    reader = await clients(region=VILLAGE, scopes=scopes)
    first, second = await _twice(http, f"/api/v1/kpm/{family['id']}", reader.headers)
    assert first == second
    assert first[0] == 200  # type: ignore[index]
    missing = await _twice(http, f"/api/v1/kpm/{uuid.uuid4()}", reader.headers)
    assert missing[0] == missing[1]
    assert missing[0][0] == 404  # type: ignore[index]


async def test_refusals_answer_as_the_router_does(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(scopes=["facilitators:read"])
    for path in ("/api/v1/regions/33.28", f"/api/v1/kpm/{uuid.uuid4()}"):
        unauthenticated = await _twice(http, path, {})
        assert unauthenticated[0] == unauthenticated[1]
        assert unauthenticated[0][0] == 401  # type: ignore[index]
        bad_token = await _twice(http, path, {"Authorization": "Bearer not-a-token"})
        assert bad_token[0] == bad_token[1]
        assert bad_token[0][0] == 401  # type: ignore[index]
    no_scope = await _twice(http, f"/api/v1/kpm/{uuid.uuid4()}", client.headers)
    assert no_scope[0] == no_scope[1]
    assert no_scope[0][0] == 403  # type: ignore[index]


async def test_the_neighbouring_routes_still_reach_their_own(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    headers = {**client.headers, "X-Request-ID": REQUEST_ID}
    neighbours = [
        "/api/v1/regions/33.28.02/children",
        "/api/v1/regions?parent_code=33.28.02",
        "/api/v1/regions/33.28/",
        "/api/v1/kpm",
        "/api/v1/kpm/not-an-id",
        f"/api/v1/kpm/{uuid.uuid4()}/members",
    ]
    before = [_answer(await http.get(path, headers=headers)) for path in neighbours]
    # Teach both hot routes.
    await http.get("/api/v1/regions/33.28", headers=client.headers)
    await http.get(f"/api/v1/kpm/{uuid.uuid4()}", headers=client.headers)
    after = [_answer(await http.get(path, headers=headers)) for path in neighbours]
    assert after == before
    assert before[0][0] == 200
    assert VILLAGE in [
        item["code"] for item in httpx.Response(200, content=before[0][2]).json()["items"]
    ]


def _count(metrics: str, route: str, status: int) -> float:
    pattern = (
        rf'dinsos_http_requests_total\{{method="GET",route="{re.escape(route)}",'
        rf'status="{status}"\}} ([0-9.e+]+)'
    )
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def test_hot_reads_are_counted_under_their_route(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    route = "/api/v1/regions/{code}"
    before = _count((await http.get("/metrics")).text, route, 200)
    for _ in range(3):
        answer = await http.get("/api/v1/regions/33.28", headers=client.headers)
        assert answer.headers["x-request-id"]
        assert answer.headers["cache-control"] == "no-store"
    after = _count((await http.get("/metrics")).text, route, 200)
    assert after - before == 3


def _learned(app: FastAPI) -> list[Any]:
    layer: Any = app.middleware_stack
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app
    return list(layer.hot_routes.learned)


# A value for each kind of path parameter of the API, shaped as its routes take it.
SAMPLES = {"code": "33.28.02.2001", "program_code": "PKH", "format": "csv"}


def _sample_path(template: str) -> str:
    return re.sub(
        r"\{([^}:]+)[^}]*\}", lambda name: SAMPLES.get(name.group(1), str(uuid.uuid4())), template
    )


async def test_no_other_path_of_the_api_is_taken_by_a_hot_route(
    app: FastAPI, http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """A learned pattern is matched before the router: no path of any other route (every path
    of the OpenAPI document, with its parameters filled in, and the service's own pages) may
    match it, or that route would be shadowed once the hot route is learned."""
    client = await clients()
    await http.get("/api/v1/regions/33.28", headers=client.headers)
    await http.get(f"/api/v1/kpm/{uuid.uuid4()}", headers=client.headers)
    learned = _learned(app)
    assert {hot.route.operation_id for hot in learned} == {"getRegion", "getFamily"}
    others = [
        path
        for path in app.openapi()["paths"]
        if path not in {hot.route.path_format for hot in learned}
    ]
    others += ["/metrics", "/healthz", "/readyz", "/docs", "/redoc", "/graphql", "/openapi.json"]
    assert len(others) > 50
    for path in others:
        sample = _sample_path(path)
        taken = [hot.route.path for hot in learned if hot.pattern.match(sample)]
        assert taken == [], f"{sample} ({path}) would be served by {taken}"


async def test_dependency_overrides_are_applied_to_hot_reads(
    app: FastAPI, http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    await http.get("/api/v1/regions/33.28", headers=client.headers)  # learned

    async def refuse_everyone() -> Caller:
        raise Forbidden("Overridden.", code="overridden")

    app.dependency_overrides[get_standalone_caller] = refuse_everyone
    try:
        answer = await http.get("/api/v1/regions/33.28", headers=client.headers)
    finally:
        app.dependency_overrides.clear()
    assert answer.status_code == 403
    assert answer.json()["code"] == "overridden"
    assert (await http.get("/api/v1/regions/33.28", headers=client.headers)).status_code == 200
