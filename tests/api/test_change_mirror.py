"""A village's system keeps a copy of its families and of the payments to them from the change
feed alone, while other offices write at the same time (REST writes, moves in and out of the
village, archives, imports, payments, and a slow transaction that began first and commits
last); at the end the copy is exactly what the village's lists and export give."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from schemas.kpm import FamilyCreate
from service.auth.clients import operator
from service.demo.roll import RollMaker, SyntheticFamily, write_import_csv
from service.kpm import families
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    disbursement_body,
    family_body,
    money_headers,
)

VILLAGE = "33.28.02.2001"
NEIGHBOUR = "33.28.02.2002"
REGENCY = "33.28"
MIRROR_SCOPES = ["changes:read", "kpm:read", "pii:read", "disbursements:read"]


class Mirror:
    """What the village's system holds: families and payments by id, as the feed gave them."""

    def __init__(self, http: httpx.AsyncClient, reader: IssuedClient) -> None:
        self.http, self.reader = http, reader
        self.cursor: str | None = None
        self.families: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.actions: set[str] = set()

    async def poll(self, wait: int) -> int:
        """One page of the feed applied; the number of changes it held."""
        params: dict[str, Any] = {"types": "kpm,disbursement", "limit": 200, "wait": wait}
        if self.cursor is not None:
            params["after"] = self.cursor
        response = await self.http.get(
            "/api/v1/changes", params=params, headers=self.reader.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        for change in page["items"]:
            self.apply(change)
        self.cursor = page["next_cursor"]
        return len(page["items"])

    def apply(self, change: dict[str, Any]) -> None:
        self.actions.add(change["action"])
        copy = self.families if change["entity"] == "kpm" else self.payments
        record = change["record"]
        if change["action"] == "leave" or record is None:
            copy.pop(change["record_id"], None)
        elif record.get("archived_at") is not None:
            copy.pop(change["record_id"], None)  # out of lists and exports, as archived
        else:
            assert record["id"] == change["record_id"]
            copy[change["record_id"]] = record

    async def follow(self, writers_done: asyncio.Event, last: list[str]) -> None:
        """Poll while the others write; once they are done, until the change of the last
        record written (``last``) came: the feed is in commit order, so all came before it."""
        while not writers_done.is_set():
            await self.poll(wait=1)
        deadline = asyncio.get_running_loop().time() + 30
        while last[0] not in self.families:
            assert asyncio.get_running_loop().time() < deadline, "the last change never came"
            await self.poll(wait=1)


class Office:
    """A writing office of the regency."""

    def __init__(self, http: httpx.AsyncClient, client: IssuedClient) -> None:
        self.http, self.client = http, client

    async def send(self, method: str, url: str, body: Any, **headers: str) -> dict[str, Any]:
        response = await self.http.request(
            method, url, json=body, headers={**self.client.headers, **headers}
        )
        assert response.status_code in (200, 201), (url, response.text)
        return dict(response.json())

    async def family(self, village: str) -> dict[str, Any]:
        return await self.send("POST", "/api/v1/kpm", family_body(village))

    async def change(self, family: dict[str, Any], **fields: Any) -> dict[str, Any]:
        url = f"/api/v1/kpm/{family['id']}"
        return await self.send("PATCH", url, fields, **{"If-Match": f'"{family["version"]}"'})

    async def archive(self, family: dict[str, Any]) -> dict[str, Any]:
        url = f"/api/v1/kpm/{family['id']}/archive"
        body = {"reason": "Pindah ke luar kabupaten"}
        return await self.send("POST", url, body, **{"If-Match": f'"{family["version"]}"'})

    async def pay(self, allocation_id: str, family: dict[str, Any]) -> dict[str, Any]:
        body = disbursement_body(allocation_id, family["id"])
        return await self.send("POST", "/api/v1/disbursements", body, **money_headers(self.client))

    async def send_payment(self, payment: dict[str, Any]) -> dict[str, Any]:
        url = f"/api/v1/disbursements/{payment['id']}/transitions"
        body = {"to": "sent", "note": "Dikirim ke bank"}
        return await self.send("POST", url, body, **money_headers(self.client))

    async def import_file(self, roll: list[SyntheticFamily], path: Path) -> None:
        write_import_csv(roll, path)
        started = await self.http.post(
            "/api/v1/kpm/imports?format=csv", content=path.read_bytes(), headers=self.client.headers
        )
        assert started.status_code == 202, started.text
        while True:
            job = (
                await self.http.get(started.headers["location"], headers=self.client.headers)
            ).json()
            if job["status"] in ("done", "failed"):
                assert (job["status"], job["families_refused"]) == ("done", 0), job
                return
            await asyncio.sleep(0.05)


async def _villagers(office: Office, allocation_id: str) -> list[dict[str, Any]]:
    """Families of the village: changed, paid, one moved out (its payment stays the
    village's)."""
    made = [await office.family(VILLAGE) for _ in range(5)]
    await office.change(made[0], address="RT 07 RW 02", desil=3)
    paid = await office.pay(allocation_id, made[1])
    await office.change(made[1], village_code=NEIGHBOUR)
    await office.send_payment(await office.pay(allocation_id, made[3]))
    await office.pay(allocation_id, made[4])
    return [made[2], paid]


async def _villagers_later(office: Office, family: dict[str, Any], paid: dict[str, Any]) -> None:
    await office.archive(family)
    await office.send_payment(paid)


async def _newcomers(office: Office) -> list[dict[str, Any]]:
    """Families of the neighbouring village, two of which move in."""
    made = [await office.family(NEIGHBOUR) for _ in range(3)]
    return [await office.change(family, village_code=VILLAGE) for family in made[:2]]


async def _newcomers_later(office: Office, moved: list[dict[str, Any]]) -> None:
    """One of the families that moved in moves out again."""
    await office.change(await office.change(moved[0], desil=7), village_code=NEIGHBOUR)
    await office.change(moved[1], address="Dusun Baru")


async def _first_import(office: Office, folder: Path) -> list[SyntheticFamily]:
    """A roll of both villages."""
    maker = RollMaker(seed=31)
    roll = [maker.family(VILLAGE, ["PKH"], size=3) for _ in range(4)]
    roll += [maker.family(NEIGHBOUR, ["PKH"], size=2) for _ in range(2)]
    await office.import_file(roll, folder / "first.csv")
    return roll


async def _second_import(office: Office, roll: list[SyntheticFamily], folder: Path) -> None:
    """The same roll with one family moved each way and a name changed (an import writes as
    the API does)."""
    roll[0].village_code = NEIGHBOUR
    roll[4].village_code = VILLAGE
    roll[1].members[0].name = "Ahmad Subagyo"
    await office.import_file(roll, folder / "second.csv")


async def _listed(http: httpx.AsyncClient, reader: IssuedClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await http.get(url, params=params, headers=reader.headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _client(app: FastAPI, region: str, scopes: list[str] | None = None) -> IssuedClient:
    async with app.state.sessions() as session:
        return await ClientFactory(session, app.state.token_keys, commit=True)(
            region=region, scopes=scopes
        )


@pytest.fixture
async def listening_app(own_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app, its listening connection (opened by the first waiting read) closed after."""
    yield own_app
    signal = getattr(own_app.state, "change_signal", None)
    if signal is not None:
        await signal.close()


async def test_a_village_copy_kept_from_the_feed_equals_the_village_lists(
    listening_app: FastAPI, own_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    own_app = listening_app
    mirror = Mirror(own_http, await _client(own_app, VILLAGE, MIRROR_SCOPES))
    offices = [Office(own_http, await _client(own_app, REGENCY)) for _ in range(3)]
    allocation = await offices[0].send("POST", "/api/v1/allocations", allocation_body())

    writers_done, last = asyncio.Event(), [""]
    following = asyncio.create_task(mirror.follow(writers_done, last))
    try:
        # Everyone at once, the copy following as they write.
        (archived, paid), moved, roll = await asyncio.gather(
            _villagers(offices[0], allocation["id"]),
            _newcomers(offices[1]),
            _first_import(offices[2], tmp_path),
        )
        async with own_app.state.sessions() as slow:
            # Begins first (its transaction takes an id with its first write), commits last.
            await slow.begin()
            late = await families.create_family(
                slow, operator(), FamilyCreate.model_validate(family_body(VILLAGE))
            )
            await asyncio.gather(
                _villagers_later(offices[0], archived, paid),
                _newcomers_later(offices[1], moved),
                _second_import(offices[2], roll, tmp_path),
            )
            await slow.commit()
        last[0] = (await offices[0].family(VILLAGE))["id"]
    except BaseException:
        following.cancel()
        raise
    writers_done.set()
    await following
    assert {"create", "update", "archive", "transition", "leave"} <= mirror.actions

    listed = await _listed(own_http, mirror.reader, f"/api/v1/kpm?village_code={VILLAGE}")
    assert str(late.family.id) in {family["id"] for family in listed}
    assert len(listed) == 3 + 1 + 4 + 1 + 1  # REST, moved in, imported, the late one, the last
    assert sorted(mirror.families) == sorted(family["id"] for family in listed)
    for family in listed:
        for name, value in family.items():
            assert mirror.families[family["id"]][name] == value, (family["id"], name)

    exported = await own_http.get(
        "/api/v1/kpm/export", params={"village_code": VILLAGE}, headers=mirror.reader.headers
    )
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert {line["no_kk"] for line in lines} == {f["no_kk"] for f in mirror.families.values()}
    assert {line["nik"] for line in lines} == {
        member["nik"] for f in mirror.families.values() for member in f["members"]
    }

    payments = await _listed(own_http, mirror.reader, "/api/v1/disbursements")
    assert len(payments) == 3
    assert mirror.payments == {payment["id"]: payment for payment in payments}
