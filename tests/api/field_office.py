"""An office's system in the field stories: its client, a few conveniences over the HTTP API,
and the readings the stories share."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx

from service.demo.roll import SyntheticFamily, write_import_csv
from tests.factories import IssuedClient


class Office:
    """An office's system talking to the service: its client and a few conveniences."""

    def __init__(self, http: httpx.AsyncClient, client: IssuedClient) -> None:
        self.http, self.client = http, client

    async def call(
        self, method: str, url: str, expect: int = 200, **kwargs: Any
    ) -> dict[str, Any] | list[Any]:
        headers = {**self.client.headers, **kwargs.pop("headers", {})}
        response = await self.http.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expect, (url, response.text)
        body: dict[str, Any] | list[Any] = response.json()
        return body

    async def get(self, url: str) -> Any:
        return await self.call("GET", url)

    async def post(self, url: str, body: Any, expect: int = 201, **kwargs: Any) -> Any:
        return await self.call("POST", url, expect, json=body, **kwargs)

    async def patch(self, url: str, body: Any, version: int, expect: int = 200) -> Any:
        return await self.call(
            "PATCH", url, expect, json=body, headers={"If-Match": f'"{version}"'}
        )

    async def put(self, url: str, body: Any, expect: int = 200) -> Any:
        return await self.call("PUT", url, expect, json=body)

    async def pay(self, url: str, body: Any, key: str | None = None, expect: int = 201) -> Any:
        """A money-moving POST, with an Idempotency-Key (a fresh one unless retrying)."""
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self.call("POST", url, expect, json=body, headers=headers)

    async def allocation_row(self, allocation_id: str) -> dict[str, Any]:
        rows = await self.report("budget-realisation", "")
        (row,) = [r for r in rows if r["allocation_id"] == allocation_id]
        return row

    async def import_roll(self, families: list[SyntheticFamily], tmp_path: Path) -> dict[str, Any]:
        path = tmp_path / "roll.csv"
        write_import_csv(families, path)
        started = await self.http.post(
            "/api/v1/kpm/imports?format=csv", content=path.read_bytes(), headers=self.client.headers
        )
        assert started.status_code == 202, started.text
        for _ in range(600):
            job: dict[str, Any] = await self.get(started.headers["location"])
            if job["status"] in ("done", "failed"):
                assert (job["status"], job["families_refused"]) == ("done", 0), job
                return job
            await asyncio.sleep(0.05)
        raise AssertionError("the import did not finish")

    async def all_families(self, query: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await self.get(f"/api/v1/kpm?limit=500{query}{cursor}")
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            cursor = f"&cursor={page['next_cursor']}"

    async def report(self, name: str, query: str) -> list[dict[str, Any]]:
        body = await self.get(f"/api/v1/reports/{name}?{query}")
        rows: list[dict[str, Any]] = body["rows"]
        return rows


def funnel_of(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {row["step"]: (row["families"], row["people"]) for row in rows}


async def active_groups(
    office: Office, village: str, families: list[dict[str, Any]], program: str, size: int,
    trade: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """Groups of ``size`` families, formed and activated."""
    groups = []
    for n in range(len(families) // size):
        members = families[n * size : (n + 1) * size]
        group = await office.post(
            "/api/v1/kube",
            {"name": f"Kelompok {program} {n + 1}", "village_code": village,
             "program_code": program, "business_category": trade,
             "members": [{"family_id": f["id"], "role": "ketua" if i == 0 else "anggota"}
                         for i, f in enumerate(members)]},
        )  # fmt: skip
        active = await office.post(
            f"/api/v1/kube/{group['id']}/transitions", {"to": "active"}, expect=200
        )
        groups.append(active)
    return groups
