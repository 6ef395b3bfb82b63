"""KUBE members: group size, officer seats, which families may join, one active KUBE per family
(also in parallel)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.kube_setup import GUCI, OFFICE, active_group, create_group, families, move
from tests.factories import ClientFactory, kube_group_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_group_size_limits_and_member_rules(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 11)
    oversized = await http.post(
        "/api/v1/kube", json=kube_group_body(family_ids=family_ids), headers=office.headers
    )
    assert oversized.status_code == 422
    assert oversized.json()["errors"][0]["code"] == "group_size"

    group = await create_group(http, office, family_ids[:10])
    eleventh = await http.post(
        f"/api/v1/kube/{group['id']}/members",
        json={"family_id": family_ids[10]},
        headers=office.headers,
    )
    assert eleventh.status_code == 409
    assert eleventh.json()["code"] == "group_full"
    twice = await http.post(
        f"/api/v1/kube/{group['id']}/members",
        json={"family_id": family_ids[3]},
        headers=office.headers,
    )
    assert twice.json()["code"] == "already_member"

    # Officer seats are single: a new bendahara, then a new ketua, hand over the seats.
    base = f"/api/v1/kube/{group['id']}/members"
    await http.patch(f"{base}/{family_ids[1]}", json={"role": "bendahara"}, headers=office.headers)
    handed = await http.patch(
        f"{base}/{family_ids[2]}", json={"role": "bendahara"}, headers=office.headers
    )
    roles = {m["family_id"]: m["role"] for m in handed.json()["members"]}
    assert (roles[family_ids[1]], roles[family_ids[2]]) == ("anggota", "bendahara")
    assert (await move(http, office, group["id"], "active")).status_code == 200

    ketua_out = await http.delete(f"{base}/{family_ids[0]}", headers=office.headers)
    assert ketua_out.status_code == 409
    assert ketua_out.json()["code"] == "ketua_required"
    demoted = await http.patch(
        f"{base}/{family_ids[0]}", json={"role": "anggota"}, headers=office.headers
    )
    assert demoted.json()["code"] == "ketua_required"
    new_ketua = await http.patch(
        f"{base}/{family_ids[5]}", json={"role": "ketua"}, headers=office.headers
    )
    roles = {m["family_id"]: m["role"] for m in new_ketua.json()["members"]}
    assert (roles[family_ids[0]], roles[family_ids[5]]) == ("anggota", "ketua")
    for family_id in [*family_ids[6:10], family_ids[3]]:  # ten down to five, the minimum
        assert (await http.delete(f"{base}/{family_id}", headers=office.headers)).status_code == 200
    below = await http.delete(f"{base}/{family_ids[1]}", headers=office.headers)
    assert below.status_code == 409
    assert below.json()["code"] == "group_size"
    read = (await http.get(f"/api/v1/kube/{group['id']}", headers=office.headers)).json()
    assert len(read["members"]) == 5


async def test_member_families_must_be_visible_live_and_in_the_regency(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    regency = await clients(region="33.28", scopes=OFFICE)
    village = await clients(region=GUCI, scopes=OFFICE)
    (neighbour,) = await families(http, regency, 1, "33.28.02.2002")  # same district
    (bumijawa,) = await families(http, regency, 1, "33.28.01.2001")  # other district, same regency
    province = await clients(region="33", scopes=OFFICE)
    (brebes,) = await families(http, province, 1, "33.29.01.2001")
    (archived,) = await families(http, regency, 1)
    await http.post(
        f"/api/v1/kpm/{archived}/archive",
        json={"reason": "Pindah ke luar kabupaten"},
        headers={**regency.headers, "If-Match": '"1"'},
    )
    group = await create_group(http, village, [])
    url = f"/api/v1/kube/{group['id']}/members"

    hidden = await http.post(url, json={"family_id": neighbour}, headers=village.headers)
    assert hidden.status_code == 422
    assert hidden.json()["errors"][0]["code"] == "unknown_family"
    assert hidden.json()["errors"][0]["field"] == "family_id"
    # The regency office sees both; the family of another district of Tegal may join.
    assert (
        await http.post(url, json={"family_id": bumijawa}, headers=regency.headers)
    ).status_code == 201
    outside = await http.post(url, json={"family_id": brebes}, headers=province.headers)
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["code"] == "outside_group_regency"
    gone = await http.post(url, json={"family_id": archived}, headers=regency.headers)
    assert gone.json()["errors"][0]["code"] == "archived_family"


async def test_one_active_kube_per_family(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    first = await active_group(http, office)
    shared = first["members"][2]["family_id"]
    second = await active_group(http, office)
    refused = await http.post(
        f"/api/v1/kube/{second['id']}/members",
        json={"family_id": shared},
        headers=office.headers,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "family_in_active_kube"
    assert refused.json()["errors"][0]["field"] == "family_id"

    # A forming group may list the family; it cannot activate while the first group is active.
    others = await families(http, office, 4)
    forming = await create_group(http, office, [*others, shared])
    blocked = await move(http, office, forming["id"], "active")
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "family_in_active_kube"
    assert (await move(http, office, first["id"], "inactive")).status_code == 200
    assert (await move(http, office, forming["id"], "active")).status_code == 200
    # and now the first group cannot come back while the family is in the other one
    back = await move(http, office, first["id"], "active")
    assert back.json()["code"] == "family_in_active_kube"


async def test_parallel_activations_sharing_a_family_let_one_win(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)  # Kota Pasuruan
    village = "35.75.01.1001"
    (shared,) = await families(live_http, office, 1, village)
    groups = []
    for _ in range(3):
        others = await families(live_http, office, 4, village)
        groups.append(
            await create_group(live_http, office, [*others, shared], village_code=village)
        )

    responses = await asyncio.gather(
        *(move(live_http, office, group["id"], "active") for group in groups)
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "family_in_active_kube"
    }
    statuses = [
        (await live_http.get(f"/api/v1/kube/{g['id']}", headers=office.headers)).json()["status"]
        for g in groups
    ]
    assert sorted(statuses) == ["active", "forming", "forming"]


async def test_parallel_adds_of_one_family_to_active_groups_let_one_win(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)
    village = "35.75.01.1002"
    groups = [await active_group(live_http, office, village) for _ in range(4)]
    (family_id,) = await families(live_http, office, 1, village)
    responses = await asyncio.gather(
        *(
            live_http.post(
                f"/api/v1/kube/{group['id']}/members",
                json={"family_id": family_id},
                headers=office.headers,
            )
            for group in groups
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    holding = [
        g
        for g in groups
        if family_id
        in {
            m["family_id"]
            for m in (
                await live_http.get(f"/api/v1/kube/{g['id']}", headers=office.headers)
            ).json()["members"]
        }
    ]
    assert len(holding) == 1
