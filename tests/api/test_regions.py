from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.regions.loader import load_regions
from service.regions.tables import Region
from tests.factories import ClientFactory


async def test_the_whole_tree_is_loaded(session: AsyncSession) -> None:
    rows = await session.execute(select(col(Region.level), func.count()).group_by(Region.level))
    counts: dict[str, int] = {level: count for level, count in rows.all()}
    assert counts == {"province": 38, "regency": 514, "district": 7285, "village": 83762}


async def test_loading_again_changes_nothing(session: AsyncSession) -> None:
    assert await load_regions(session) == 0


@pytest.mark.parametrize("code", ["33.28.02.2001", "3328022001"])
async def test_region_with_parent_chain(
    http: httpx.AsyncClient, clients: ClientFactory, code: str
) -> None:
    client = await clients(region="33.28.02.2001")
    response = await http.get(f"/api/v1/regions/{code}", headers=client.headers)
    assert response.status_code == 200
    assert response.json() == {
        "code": "33.28.02.2001",
        "name": "Guci",
        "level": "village",
        "parent_code": "33.28.02",
        "parents": [
            {"code": "33", "name": "Jawa Tengah", "level": "province"},
            {"code": "33.28", "name": "Kabupaten Tegal", "level": "regency"},
            {"code": "33.28.02", "name": "Bumijawa", "level": "district"},
        ],
    }


async def test_unknown_and_malformed_codes(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients()
    unknown = await http.get("/api/v1/regions/99.99", headers=client.headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    malformed = await http.get("/api/v1/regions/33.2", headers=client.headers)
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "code"


async def test_provinces_by_default(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients()
    response = await http.get("/api/v1/regions?limit=100", headers=client.headers)
    body = response.json()
    assert len(body["items"]) == 38
    assert body["next_cursor"] is None
    assert {"code": "33", "name": "Jawa Tengah", "level": "province", "parent_code": None} in body[
        "items"
    ]


async def test_children_walked_page_by_page(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients()
    expected = list(
        await session.scalars(
            select(col(Region.code)).where(col(Region.parent_code) == "33.28").order_by(Region.code)
        )
    )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = (
            await http.get("/api/v1/regions/3328/children", params=params, headers=client.headers)
        ).json()
        seen += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert "33.28.02" in seen  # Bumijawa


async def test_name_search_is_case_insensitive(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    response = await http.get(
        "/api/v1/regions", params={"name": "kabupaten tegal"}, headers=client.headers
    )
    assert [item["code"] for item in response.json()["items"]] == ["33.28"]
    regencies = await http.get(
        "/api/v1/regions",
        params={"name": "PASURUAN", "level": "regency"},
        headers=client.headers,
    )
    assert {item["name"] for item in regencies.json()["items"]} == {
        "Kabupaten Pasuruan",
        "Kota Pasuruan",
    }


async def test_regions_need_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/regions/33")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
