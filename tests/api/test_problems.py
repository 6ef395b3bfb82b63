"""Every error is RFC 9457 problem+json with a stable code, field errors and the request id;
`Accept-Language: id` gives Indonesian texts; nothing internal leaks."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import ClientFactory

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:dinsos:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_and_wrong_method(http: httpx.AsyncClient) -> None:
    _assert_problem(await http.get("/api/v1/nothing-here"), 404, "route_not_found")
    _assert_problem(await http.delete("/healthz"), 405, "method_not_allowed")


async def test_validation_errors_name_each_field(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    response = await http.get("/api/v1/kpm?limit=0&desil=11", headers=client.headers)
    body = _assert_problem(response, 422, "validation_failed")
    assert {error["field"] for error in body["errors"]} == {"limit", "desil"}  # type: ignore[attr-defined]

    broken_json = await http.post(
        "/api/v1/kpm",
        content=b'{"no_kk": ',
        headers={**client.headers, "Content-Type": "application/json"},
    )
    _assert_problem(broken_json, 422, "validation_failed")


async def test_indonesian_texts(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients(scopes=["kpm:read"])
    missing = await http.get(
        "/api/v1/regions/99.99", headers={**client.headers, "Accept-Language": "id-ID,id;q=0.9"}
    )
    body = _assert_problem(missing, 404, "not_found")
    assert body["title"] == "Tidak ditemukan"
    assert missing.headers["content-language"] == "id"

    english = await http.get("/api/v1/regions/99.99", headers=client.headers)
    assert english.json()["title"] == "Not found"
    assert english.headers["content-language"] == "en"

    scope = await http.post(
        "/api/v1/facilitators",
        json={"name": "Ani", "kind": "PKH", "region_code": "33.28"},
        headers={**client.headers, "Accept-Language": "id"},
    )
    body = _assert_problem(scope, 403, "insufficient_scope")
    assert body["detail"] == "Tindakan ini memerlukan scope 'facilitators:write'."


async def test_an_unexpected_failure_is_a_bare_500(app: FastAPI, http: httpx.AsyncClient) -> None:
    async def explode() -> None:
        raise RuntimeError("SELECT nik FROM kpm_member -- 3328024107850001")

    app.add_api_route("/test-explode", explode)
    response = await http.get("/test-explode", headers={"X-Request-ID": "trace-me-123"})
    body = _assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "trace-me-123"
    assert "SELECT" not in response.text
    assert "3328024107850001" not in response.text
    assert "Traceback" not in response.text
    assert body["errors"] == []


async def test_values_postgresql_cannot_take_are_4xx_not_500(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    nik = "3328021403850001"
    for url in (
        f"/api/v1/kpm?nik={nik}&updated_since=0001-01-01T00:00:00%2B01:00",  # before year 1 UTC
        "/api/v1/kpm?name=Sl%00amet",  # a NUL character
        "/api/v1/kpm/imports/00000000-0000-4000-8000-000000000000/refusals?cursor=WyJ4Il0",
        "/api/v1/facilitators?cursor=WyJub3QtYS11dWlkIl0",  # ["not-a-uuid"]
    ):
        response = await http.get(url, headers=client.headers)
        assert 400 <= response.status_code < 500, (url, response.text)
        assert nik not in response.text

    facilitator = await http.post(
        "/api/v1/facilitators",
        json={"name": "Ani\u0000Rahayu", "kind": "PKH", "region_code": "33.28.02"},
        headers=client.headers,
    )
    body = _assert_problem(facilitator, 422, "invalid_value")
    assert "Ani" not in str(body)

    made = await http.post(
        "/api/v1/facilitators",
        json={"name": "Ani Rahayu", "kind": "PKH", "region_code": "33.28.02"},
        headers=client.headers,
    )
    odd_etag = await http.patch(
        f"/api/v1/facilitators/{made.json()['id']}",
        json={"yearly_target": 5},
        headers={
            **{k.encode(): v.encode() for k, v in client.headers.items()},
            b"If-Match": b'"\xb2"',
        },
    )
    assert odd_etag.status_code == 412
