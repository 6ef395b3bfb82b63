"""Request fields take what their JSON Schema type says and nothing more (found by schemathesis'
negative_data_rejection): Pydantic's lax mode read `false` as the integer 0, `1` as `true` and
`0` as the date 1970-01-01, so a client's bug was stored as data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import ClientFactory, cohort_body

FACILITATOR = {"name": "Pendamping Bumijawa", "kind": "PKH", "region_code": "33.28.02"}


async def _refusal(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [(error["field"], error["code"]) for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({"yearly_target": False}, ("yearly_target", "int_type")),
        ({"yearly_target": "5"}, ("yearly_target", "int_type")),
        ({"yearly_target": 5.0}, ("yearly_target", "int_type")),
        ({"active": 1}, ("active", "bool_type")),
        ({"active": "yes"}, ("active", "bool_type")),
    ],
)
async def test_an_integer_or_a_boolean_of_another_json_type_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory, extra: dict[str, Any], refused: tuple[str, str]
) -> None:
    office = await clients(region="33.28")
    name = f"Pendamping {refused[0]} {extra[refused[0]]!r}"
    response = await http.post(
        "/api/v1/facilitators", json={**FACILITATOR, "name": name, **extra}, headers=office.headers
    )
    assert await _refusal(response) == [refused]
    listed = await http.get("/api/v1/facilitators?limit=500", headers=office.headers)
    assert name not in [item["name"] for item in listed.json()["items"]]


async def test_the_json_types_themselves_are_taken(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    body = {**FACILITATOR, "yearly_target": 5, "active": False}
    created = await http.post("/api/v1/facilitators", json=body, headers=office.headers)
    assert created.status_code == 201, created.text
    read = await http.get(f"/api/v1/facilitators/{created.json()['id']}", headers=office.headers)
    assert (read.json()["yearly_target"], read.json()["active"]) == (5, False)


@pytest.mark.parametrize("held_on", [0, 1_700_000_000, "1700000000", True])
async def test_a_date_is_text_not_a_unix_time(
    http: httpx.AsyncClient, clients: ClientFactory, held_on: Any
) -> None:
    office = await clients(region="33.28")
    body = cohort_body(session_days=[])
    body["sessions"] = [{"held_on": held_on}]
    response = await http.post("/api/v1/training-cohorts", json=body, headers=office.headers)
    assert await _refusal(response) == [("sessions.0.held_on", "date_type")]
    listed = await http.get("/api/v1/training-cohorts?limit=500", headers=office.headers)
    assert body["name"] not in [item["name"] for item in listed.json()["items"]]

    body["sessions"] = [{"held_on": "2026-10-05"}]
    created = await http.post("/api/v1/training-cohorts", json=body, headers=office.headers)
    assert created.status_code == 201, created.text
    read = await http.get(
        f"/api/v1/training-cohorts/{created.json()['id']}", headers=office.headers
    )
    assert [session["held_on"] for session in read.json()["sessions"]] == ["2026-10-05"]


def test_whole_number_fields_say_so_in_the_document(app: FastAPI) -> None:
    """A strict integer refuses `5.0`, which JSON Schema counts as an integer: the document marks
    it, so a generated client (or a fuzzer) knows."""
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["FacilitatorCreate"]["properties"]["yearly_target"]["anyOf"][0] == {
        "type": "integer",
        "maximum": 10000,
        "minimum": 0,
        "x-strict-integer": True,
    }
    assert schemas["CohortCreate"]["properties"]["capacity"]["x-strict-integer"] is True


def test_the_idempotency_key_documents_its_shape(app: FastAPI) -> None:
    """Visible ASCII, 1 to 255 characters: a blank key counts as missing (428), so a client that
    follows the document never sends one thinking it is a key."""
    operation = app.openapi()["paths"]["/api/v1/disbursements"]["post"]
    [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["required"] is True
    assert key["schema"]["pattern"] == "^[!-~]{1,255}$"


async def test_a_name_search_is_judged_on_its_length_as_sent(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Two characters are a valid search by the document, whatever they are: U+001D is
    whitespace to Python's strip but not to JSON Schema, so judging the trimmed term refused
    `"\\x1d1"` with a 422 the document did not announce."""
    reader = await clients(region="33.28")

    async def names(term: str) -> list[str]:
        response = await http.get(
            "/api/v1/regions", params={"name": term, "limit": 500}, headers=reader.headers
        )
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names("\x1d1") == []
    assert await names("  ") == []
    assert "Guci" in await names(" guci ")  # trimmed when something is left to search
    refused = await http.get("/api/v1/regions", params={"name": "g"}, headers=reader.headers)
    assert [error["field"] for error in refused.json()["errors"]] == ["name"]
