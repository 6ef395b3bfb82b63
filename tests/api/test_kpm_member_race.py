"""Member changes of different families racing for one NIK: the unique index lets one in and
every other request gets the same 409 as a check that saw the clash, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.factories import ClientFactory, IssuedClient, family_body, member_body

WRITER = ["kpm:read", "kpm:write"]
RACERS = 8
# Whether the losers' checks run before the winner commits is up to the scheduler; a few rounds
# make a race that slips past the check (and into the unique index) near certain.
ROUNDS = 3


async def new_families(
    live_http: httpx.AsyncClient, writer: IssuedClient, count: int
) -> list[dict[str, Any]]:
    created = []
    for _ in range(count):
        response = await live_http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def if_match(writer: IssuedClient, family: dict[str, Any]) -> dict[str, str]:
    return {**writer.headers, "If-Match": f'"{family["version"]}"'}


async def holders_of(
    live_http: httpx.AsyncClient, writer: IssuedClient, nik: str
) -> list[dict[str, Any]]:
    found = await live_http.get("/api/v1/kpm", params={"nik": nik}, headers=writer.headers)
    assert found.status_code == 200, found.text
    return found.json()["items"]  # type: ignore[no-any-return]


def assert_one_winner_and_clean_conflicts(
    responses: list[httpx.Response], field: str, *, success: int
) -> httpx.Response:
    assert sorted(r.status_code for r in responses) == [success] + [409] * (RACERS - 1), [
        r.text for r in responses
    ]
    for response in responses:
        if response.status_code == 409:
            errors = response.json()["errors"]
            assert [(e["field"], e["code"]) for e in errors] == [(field, "nik_in_other_family")]
    return next(r for r in responses if r.status_code == success)


async def test_parallel_member_adds_with_one_nik_let_one_family_have_it(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    writer = await live_clients(region="33.28", scopes=WRITER)
    for _ in range(ROUNDS):
        families = await new_families(live_http, writer, RACERS)
        newcomer = member_body("ANAK", name="Dewi Lestari")

        responses = list(
            await asyncio.gather(
                *(
                    live_http.post(
                        f"/api/v1/kpm/{family['id']}/members",
                        json=newcomer,
                        headers=if_match(writer, family),
                    )
                    for family in families
                )
            )
        )

        # the new member is the family's fourth: members.3
        winner = assert_one_winner_and_clean_conflicts(responses, "members.3.nik", success=201)
        holders = await holders_of(live_http, writer, newcomer["nik"])
        assert [family["id"] for family in holders] == [winner.json()["id"]]


async def test_parallel_member_changes_to_one_nik_let_one_family_have_it(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    writer = await live_clients(region="33.28", scopes=WRITER)
    for _ in range(ROUNDS):
        families = await new_families(live_http, writer, RACERS)
        wanted = member_body("ANAK", name="Budi")["nik"]

        responses = list(
            await asyncio.gather(
                *(
                    live_http.patch(
                        f"/api/v1/kpm/{family['id']}/members/{family['members'][2]['id']}",
                        json={"nik": wanted},
                        headers=if_match(writer, family),
                    )
                    for family in families
                )
            )
        )

        winner = assert_one_winner_and_clean_conflicts(responses, "members.2.nik", success=200)
        holders = await holders_of(live_http, writer, wanted)
        assert [family["id"] for family in holders] == [winner.json()["id"]]
