"""Bulk import and export through the HTTP API, on a database of their own (the sample roll
fills villages that other tests use)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from service.demo.roll import RollMaker, write_import_csv
from tests.conftest import PROJECT_ROOT
from tests.factories import ClientFactory, IssuedClient

SAMPLE = PROJECT_ROOT / "tests" / "data" / "kpm-2000"
WRITER = ["kpm:read", "kpm:write", "pii:read"]


async def _client(
    app: FastAPI, region: str | None = None, scopes: list[str] = WRITER
) -> IssuedClient:
    async with app.state.sessions() as session:
        return await ClientFactory(session, app.state.token_keys, commit=True)(
            region=region, scopes=scopes
        )


async def _import(
    http: httpx.AsyncClient, client: IssuedClient, content: bytes, file_format: str = "csv"
) -> dict[str, Any]:
    started = await http.post(
        f"/api/v1/kpm/imports?format={file_format}", content=content, headers=client.headers
    )
    assert started.status_code == 202, started.text
    job_url = started.headers["location"]
    for _ in range(600):
        job = (await http.get(job_url, headers=client.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    refusals: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await http.get(f"{job_url}/refusals", params=params, headers=client.headers)).json()
        refusals += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    job["refusals"] = refusals
    return dict(job)


async def test_sample_roll_imports_as_expected_and_again_changes_nothing(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    expected = json.loads((SAMPLE / "expected.json").read_text())
    client = await _client(own_app)
    content = (SAMPLE / "kpm.csv").read_bytes()

    job = await _import(own_http, client, content)
    assert job["families_read"] == expected["families"]
    assert job["rows_read"] == expected["people"]
    assert job["families_created"] == expected["valid_families"]
    assert job["people_imported"] == expected["valid_people"]
    assert job["families_refused"] == len(expected["rejected"])

    by_no_kk: dict[str, list[dict[str, Any]]] = {}
    for refusal in job["refusals"]:
        by_no_kk.setdefault(refusal["no_kk"], []).append(refusal)
    assert set(by_no_kk) == {r["no_kk"] for r in expected["rejected"]}
    for rejected in expected["rejected"]:
        reported = by_no_kk[rejected["no_kk"]]
        assert (rejected["code"], rejected["field"]) in {(r["code"], r["field"]) for r in reported}
        assert all(r["lines"] == rejected["lines"] for r in reported)

    listed = await own_http.get("/api/v1/kpm?limit=1", headers=client.headers)
    assert listed.status_code == 200

    again = await _import(own_http, client, content)
    assert (again["families_created"], again["families_updated"]) == (0, 0)
    assert again["families_unchanged"] == expected["valid_families"]


async def test_indonesian_headers_bom_crlf_and_ndjson(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    client = await _client(own_app)
    rows = list(csv.DictReader(io.StringIO((SAMPLE / "kpm.csv").read_text())))[:40]
    indonesian = {
        "name": "nama",
        "relationship": "hubungan",
        "sex": "jenis_kelamin",
        "birth_date": "tanggal_lahir",
        "village_code": "kode_desa",
        "address": "alamat",
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([indonesian.get(name, name) for name in rows[0]])
    for row in rows:
        writer.writerow(row.values())
    job = await _import(own_http, client, b"\xef\xbb\xbf" + out.getvalue().encode())
    assert job["families_refused"] == 0
    families = job["families_created"]
    assert families > 5

    ndjson = "".join(json.dumps(row) + "\n" for row in rows).encode()
    again = await _import(own_http, client, ndjson, "ndjson")
    assert again["families_unchanged"] == families  # same families, other format


async def test_import_updates_a_family_it_has(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    client = await _client(own_app)
    rows = list(csv.DictReader(io.StringIO((SAMPLE / "kpm.csv").read_text())))[:3]
    header = list(rows[0])

    def file_of(items: list[dict[str, str]]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(items)
        return out.getvalue().encode()

    await _import(own_http, client, file_of(rows))
    changed = [dict(row, address="RT 01 RW 01, Desa Baru") for row in rows[:2]]  # one left
    job = await _import(own_http, client, file_of(changed))
    assert job["families_updated"] == 1
    found = (
        await own_http.get(
            "/api/v1/kpm", params={"no_kk": rows[0]["no_kk"]}, headers=client.headers
        )
    ).json()["items"][0]
    assert found["address"] == "RT 01 RW 01, Desa Baru"
    assert [m["nik"] for m in found["members"]] == [row["nik"] for row in rows[:2]]
    assert found["version"] == 2


async def test_a_regency_client_cannot_import_elsewhere(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    klaten = await _client(own_app, region="33.10")
    job = await _import(own_http, klaten, (SAMPLE / "kpm.csv").read_bytes())
    outside = [r for r in job["refusals"] if r["code"] == "outside_region"]
    assert outside
    assert job["families_created"] > 0
    listed = (await own_http.get("/api/v1/kpm?limit=500", headers=klaten.headers)).json()
    assert {item["village_code"][:5] for item in listed["items"]} == {"33.10"}


async def test_missing_columns_are_refused_before_any_job(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    client = await _client(own_app)
    response = await own_http.post(
        "/api/v1/kpm/imports", content=b"no_kk,nik\n1,2\n", headers=client.headers
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} >= {"name", "village_code"}


async def test_export_imports_back_unchanged(own_app: FastAPI, own_http: httpx.AsyncClient) -> None:
    client = await _client(own_app)
    await _import(own_http, client, (SAMPLE / "kpm.csv").read_bytes())
    exported = await own_http.get(
        "/api/v1/kpm/export", params={"format": "csv", "region": "33.28"}, headers=client.headers
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert (
        lines[0] == "no_kk,nik,name,relationship,sex,birth_date,village_code,address,desil,programs"
    )
    assert all(line.split(",")[6].startswith("33.28.") for line in lines[1:])
    again = await _import(own_http, client, exported.content)
    assert again["families_unchanged"] == again["families_read"] > 100

    masked_client = await _client(own_app, scopes=["kpm:read"])
    masked = await own_http.get(
        "/api/v1/kpm/export",
        params={"format": "ndjson", "region": "33.28"},
        headers=masked_client.headers,
    )
    first = json.loads(masked.text.splitlines()[0])
    assert first["nik"].endswith("*" * 10)
    assert first["no_kk"].endswith("*" * 10)


async def test_a_value_too_long_refuses_its_family_not_the_import(
    own_app: FastAPI, own_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    client = await _client(own_app)
    roll = RollMaker(seed=9)
    families = [roll.family("33.28.02.2001", ["PKH"], size=3) for _ in range(6)]
    families[2].members[1].name = "Siti " * 40  # 200 characters: the column holds 120
    families[4].members[0].name = "Budi\x00Santoso"
    path = tmp_path / "roll.csv"
    write_import_csv(families, path)
    job = await _import(own_http, client, path.read_bytes())
    assert (job["status"], job["families_created"], job["families_refused"]) == ("done", 4, 2)
    refused = {(r["no_kk"], r["field"], r["code"]) for r in job["refusals"]}
    assert refused == {
        (families[2].no_kk, "name", "too_long"),
        (families[4].no_kk, "name", "invalid_value"),
    }
