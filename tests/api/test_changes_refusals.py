"""What the change feed refuses: each answer names what was wrong."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import ClientFactory


async def test_the_feed_needs_its_scope(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients(region=None, scopes=["kpm:read"])
    response = await http.get("/api/v1/changes", headers=client.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "WyJ4IiwxXQ"}, "after"),  # ["x",1]: the shape of ours, not the content
        ({"limit": 0}, "limit"),
        ({"limit": 2001}, "limit"),  # the feed allows bigger pages than other lists
        ({"types": "kpm,spaceship"}, "types"),
        ({"wait": 31}, "wait"),
    ],
)
async def test_a_bad_parameter_is_named(
    http: httpx.AsyncClient, clients: ClientFactory, params: dict[str, str | int], field: str
) -> None:
    client = await clients(region=None, scopes=["changes:read"])
    response = await http.get("/api/v1/changes", params=params, headers=client.headers)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_feed_needs_a_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v1/changes")).status_code == 401
