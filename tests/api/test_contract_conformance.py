"""What the OpenAPI document promises is what the service does: a schema-driven client (or a
fuzzer such as schemathesis) that follows the document must get only documented answers."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from service.kpm.tables import ImportJob
from tests.factories import ClientFactory, IssuedClient


def _operation(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = app.openapi()["paths"][path][method]
    return operation


def _header(operation: dict[str, Any], name: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = operation["parameters"]
    [parameter] = [
        parameter
        for parameter in parameters
        if parameter["in"] == "header" and parameter["name"].lower() == name
    ]
    return parameter


async def test_if_match_is_documented_as_required_where_its_absence_is_a_428(
    app: FastAPI, http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    patch_program = _operation(app, "patch", "/api/v1/programs/{code}")
    assert _header(patch_program, "if-match")["required"] is True
    assert _header(patch_program, "if-match")["schema"]["type"] == "string"
    assert "428" in patch_program["responses"]

    client = await clients(region="33.28")
    created = await http.post(
        "/api/v1/programs",
        json={
            "code": "PK3E_TEGAL",
            "name": "PK3E Tegal",
            "level": "district",
            "benefit_kind": "training",
            "region_code": "3328",
        },
        headers=client.headers,
    )
    assert created.status_code == 201
    unconditional = await http.patch(
        "/api/v1/programs/PK3E_TEGAL", json={"name": "Renamed"}, headers=client.headers
    )
    assert unconditional.status_code == 428
    assert unconditional.json()["code"] == "if_match_required"


def test_if_match_stays_optional_where_the_service_takes_a_change_without_it(
    app: FastAPI,
) -> None:
    for method, path in (
        ("post", "/api/v1/kube/{group_id}/transitions"),
        ("post", "/api/v1/kube-grants/{grant_id}/transitions"),
        ("post", "/api/v1/training-cohorts/{cohort_id}/sessions"),
        ("delete", "/api/v1/webhooks/{subscription_id}"),
    ):
        operation = _operation(app, method, path)
        assert _header(operation, "if-match")["required"] is False, path
        assert "428" not in operation["responses"], path


def test_every_required_precondition_header_documents_its_428(app: FastAPI) -> None:
    required = [
        (path, method)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header" and parameter["required"]
    ]
    assert ("/api/v1/disbursements", "post") in required
    assert ("/api/v1/allocations/{allocation_id}", "patch") in required
    for path, method in required:
        assert "428" in app.openapi()["paths"][path][method]["responses"], (path, method)


async def test_token_refusals_are_rfc_6749_400s_not_422s(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    responses = _operation(app, "post", "/oauth/token")["responses"]
    assert "400" in responses
    assert "422" not in responses

    as_json = await http.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    assert as_json.json()["errors"][0]["field"] == "grant_type"


async def test_updated_since_takes_iso_8601_only_not_a_unix_time(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    for number in ("0.5", "1700000000"):
        refused = await http.get(
            "/api/v1/kpm", params={"updated_since": number}, headers=client.headers
        )
        assert refused.status_code == 422, number
        assert [error["field"] for error in refused.json()["errors"]] == ["updated_since"]
        assert refused.json()["errors"][0]["code"] == "iso_8601_datetime"
    for iso in ("2099-01-31T08:00:00+07:00", "2099-01-31T01:00:00Z", "2099-01-31"):
        taken = await http.get("/api/v1/kpm", params={"updated_since": iso}, headers=client.headers)
        assert taken.status_code == 200, iso
        assert taken.json()["items"] == []


async def test_an_import_without_a_body_is_refused_and_queues_no_job(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    async with own_app.state.sessions() as session:
        client = await ClientFactory(session, own_app.state.token_keys, commit=True)(
            scopes=["kpm:read", "kpm:write"]
        )
    for file_format in ("csv", "ndjson"):
        refused = await own_http.post(
            f"/api/v1/kpm/imports?format={file_format}", headers=client.headers
        )
        assert refused.status_code == 422, refused.text
        assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
            ("body", "body_required")
        ]
    async with own_app.state.sessions() as session:
        jobs = await session.scalar(select(func.count()).select_from(ImportJob))
    assert jobs == 0


def _concrete(path: str, operation: dict[str, Any]) -> str:
    # A value of the parameter's type: a UUID where the document says so, a word otherwise.
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            is_uuid = parameter["schema"].get("format") == "uuid"
            value = "0b8f1c3e-2a4d-4e6f-8a1b-3c5d7e9f0a2b" if is_uuid else "X1"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


async def test_a_405_allows_every_method_the_document_lists_for_the_path(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    checked = 0
    for path, item in app.openapi()["paths"].items():
        documented = {method.upper() for method in item}
        url = _concrete(path, next(iter(item.values())))
        response = await http.options(url)
        assert response.status_code == 405, url
        assert response.json()["code"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) == documented, url
        checked += 1
    assert checked == len(app.openapi()["paths"]) > 60


async def test_a_literal_path_is_not_read_as_an_id_of_its_sibling(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    for method, url, allow in (
        ("GET", "/api/v1/disbursements/batches", "POST"),
        ("GET", "/api/v1/disbursements/reconciliations", "POST"),
        ("GET", "/api/v1/kpm/imports", "POST"),
        ("PATCH", "/api/v1/kpm/export", "GET"),
    ):
        response = await http.request(method, url, headers=client.headers)
        assert response.status_code == 405, (method, url, response.text)
        assert response.headers["allow"] == allow
    # Any other word where an id belongs is no route at all.
    missing = await http.get("/api/v1/disbursements/not-an-id", headers=client.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "route_not_found"


async def test_an_unreadable_body_is_refused_after_authentication_and_named(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    not_utf8 = b'{"code": "PK3E_\xff", "name": "x"}'
    not_json = b'{"code": '
    json_type = {"Content-Type": "application/json"}
    for content in (not_utf8, not_json):
        anonymous = await http.post("/api/v1/programs", content=content, headers=json_type)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forged = await http.post(
            "/api/v1/programs",
            content=content,
            headers={**json_type, "Authorization": "Bearer not.a.token"},
        )
        assert forged.status_code == 401, forged.text

    client = await clients(region="33.28")
    refused = await http.post(
        "/api/v1/programs", content=not_utf8, headers={**client.headers, **json_type}
    )
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
        ("body", "invalid_encoding")
    ]
    broken = await http.post(
        "/api/v1/programs", content=not_json, headers={**client.headers, **json_type}
    )
    assert broken.status_code == 422, broken.text
    assert [(e["field"], e["code"]) for e in broken.json()["errors"]] == [("body", "json_invalid")]
    listed = await http.get("/api/v1/programs", params={"limit": 500}, headers=client.headers)
    assert all(not p["code"].startswith("PK3E_") for p in listed.json()["items"])

    token = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&client_id=\xff",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert token.status_code == 400, token.text
    assert token.json()["error"] == "invalid_request"


def _documented_codes(app: FastAPI, method: str, path: str) -> set[tuple[str, str]]:
    unprocessable = _operation(app, method, path)["responses"]["422"]
    return {(item["field"], item["code"]) for item in unprocessable["x-problem-codes"]}


async def test_the_422_codes_a_schema_cannot_express_are_documented_and_answered(
    app: FastAPI, http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    assert ("cursor", "invalid_cursor") in _documented_codes(app, "get", "/api/v1/kpm")
    assert ("region", "invalid_region_code") in _documented_codes(app, "get", "/api/v1/kpm")
    listed = await http.get(
        "/api/v1/kpm", params={"cursor": "garbage", "region": "3"}, headers=client.headers
    )
    assert listed.status_code == 422
    assert {(e["field"], e["code"]) for e in listed.json()["errors"]} <= {
        ("cursor", "invalid_cursor"),
        ("region", "invalid_region_code"),
    }
    for params, field, code in (
        ({"cursor": "garbage"}, "cursor", "invalid_cursor"),
        ({"region": "3"}, "region", "invalid_region_code"),
    ):
        refused = await http.get("/api/v1/kpm", params=params, headers=client.headers)
        assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [(field, code)]

    create = "/api/v1/allocations"
    assert ("amount", "int_type") in _documented_codes(app, "post", create)
    assert ("region_code", "invalid_region_code") in _documented_codes(app, "post", create)
    assert "`2000.0`" in _operation(app, "post", create)["responses"]["422"]["description"]
    amount = app.openapi()["components"]["schemas"]["AllocationCreate"]["properties"]["amount"]
    assert amount["type"] == "integer"
    assert amount["x-strict-integer"] is True
    allocations_before = await _allocation_ids(http, client)
    refused = await http.post(
        create,
        json={
            "program_code": "PKH",
            "fiscal_year": 2026,
            "funding_source": "APBN",
            "region_code": "33.28",
            "amount": 2000.0,
        },
        headers=client.headers,
    )
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("amount", "int_type")]
    # Nothing stored (other tests' allocations may be there: the same before and after).
    assert await _allocation_ids(http, client) == allocations_before


async def _allocation_ids(http: httpx.AsyncClient, client: IssuedClient) -> set[str]:
    listed = await http.get(
        "/api/v1/allocations", params={"region": "33.28", "limit": 500}, headers=client.headers
    )
    assert listed.status_code == 200
    return {item["id"] for item in listed.json()["items"]}
