"""An import through GraphQL: the roll sent as a file of a multipart request (the GraphQL
multipart request spec), the job and its refusals read back as REST reads them; uploads keep
REST's limits and need the bearer token."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import upload_limits
from service.settings import Settings
from tests.api.graphql_calls import error_code, gql
from tests.conftest import PROJECT_ROOT, _app_on
from tests.factories import ClientFactory, IssuedClient

SAMPLE = PROJECT_ROOT / "tests" / "data" / "kpm-2000"
WRITER = ["kpm:read", "kpm:write", "pii:read"]
START = """mutation($f: Upload!, $format: String!) {
    startImport(file: $f, format: $format) { id status format bytesTotal } }"""
JOB = """query($id: UUID!) { importJob(id: $id) { status familiesRead familiesCreated
    familiesRefused peopleImported } }"""


def _roll() -> bytes:
    """Forty valid rows of the sample and the rows of one family it refuses (a bad NIK)."""
    rows = list(csv.DictReader(io.StringIO((SAMPLE / "kpm.csv").read_text())))
    rejected = json.loads((SAMPLE / "expected.json").read_text())["rejected"][0]["no_kk"]
    chosen = rows[:40] + [row for row in rows if row["no_kk"] == rejected]
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(chosen)
    return out.getvalue().encode()


async def _upload(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    file_format: str = "csv",
    query: str = START,
) -> httpx.Response:
    operations = {"query": query, "variables": {"f": None, "format": file_format}}
    return await http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
        files={"0": ("roll.csv", content, "text/csv")},
        headers=headers,
    )


async def _client(app: FastAPI, region: str | None = None) -> IssuedClient:
    async with app.state.sessions() as session:
        return await ClientFactory(session, app.state.token_keys, commit=True)(
            region=region, scopes=WRITER
        )


async def test_an_uploaded_roll_is_imported_and_read_back(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    client = await _client(own_app)
    content = _roll()
    started = await _upload(own_http, client.headers, content)
    assert started.status_code == 200, started.text
    body = started.json()
    assert "errors" not in body, body
    job = body["data"]["startImport"]
    assert (job["format"], job["bytesTotal"]) == ("csv", len(content))

    for _ in range(600):
        read = (await gql(own_http, client, JOB, id=job["id"]))["data"]["importJob"]
        if read["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert read["status"] == "done", read
    rest = (await own_http.get(f"/api/v1/kpm/imports/{job['id']}", headers=client.headers)).json()
    assert (read["familiesCreated"], read["familiesRefused"], read["peopleImported"]) == (
        rest["families_created"],
        rest["families_refused"],
        rest["people_imported"],
    )
    assert read["familiesRefused"] == 1
    assert read["familiesCreated"] > 5

    refusals = await gql(
        own_http,
        client,
        """query($id: UUID!) { importRefusals(jobId: $id, limit: 500) {
            items { line lines noKk nik field code } nextCursor } }""",
        id=job["id"],
    )
    rest_refusals = await own_http.get(
        f"/api/v1/kpm/imports/{job['id']}/refusals", headers=client.headers
    )
    assert [
        (r["line"], r["lines"], r["noKk"], r["nik"], r["field"], r["code"])
        for r in refusals["data"]["importRefusals"]["items"]
    ] == [
        (r["line"], r["lines"], r["no_kk"], r["nik"], r["field"], r["code"])
        for r in rest_refusals.json()["items"]
    ]
    first = next(csv.DictReader(io.StringIO(content.decode())))
    listed = await own_http.get(
        "/api/v1/kpm", params={"no_kk": first["no_kk"]}, headers=client.headers
    )
    assert [m["nik"] for m in listed.json()["items"][0]["members"]][0] == first["nik"]

    other = await _client(own_app)
    assert error_code(await gql(own_http, other, JOB, id=job["id"])) == "not_found"


async def test_uploads_need_the_token_and_a_known_format(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    anonymous = await _upload(http, {}, b"no_kk,nik\n")
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "unauthorized"

    client = await clients(region="33.28", scopes=WRITER)
    xls = await _upload(http, client.headers, b"no_kk,nik\n", file_format="xls")
    assert error_code(xls.json()) == "validation_failed"
    assert xls.json()["errors"][0]["extensions"]["errors"][0]["field"] == "format"
    reader = await clients(region="33.28", scopes=["kpm:read"])
    refused = await _upload(http, reader.headers, b"no_kk,nik\n")
    rest = await http.post("/api/v1/kpm/imports", content=b"no_kk,nik\n", headers=reader.headers)
    assert error_code(refused.json()) == rest.json()["code"]
    assert rest.status_code == 403


async def test_an_upload_may_pass_the_json_limit_up_to_the_imports(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    client = await clients(region="33.28", scopes=WRITER)
    big = b"x" * 1_500_000
    # Over the 1 MB of every other GraphQL request, yet let through to the resolver (which
    # refuses the format, before reading the file).
    passed = await _upload(http, client.headers, big, file_format="xls")
    assert passed.status_code == 200, passed.text
    assert error_code(passed.json()) == "validation_failed"
    as_json = await http.post(
        "/graphql",
        json={"query": "{ __typename }", "variables": {"pad": "x" * 1_500_000}},
        headers=client.headers,
    )
    assert as_json.status_code == 413

    # The import's own limit, as on REST (413 `content_too_large` there).
    small = _app_on(settings.model_copy(update={"import_max_bytes": 100_000}), sessions, engine)
    transport = httpx.ASGITransport(app=small, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as limited:
        too_big = await _upload(limited, client.headers, big)
        rest = await limited.post("/api/v1/kpm/imports", content=big, headers=client.headers)
    assert rest.status_code == 413, rest.text
    assert error_code(too_big.json()) == rest.json()["code"] == "content_too_large"


async def test_a_multipart_body_past_the_largest_file_is_refused_as_it_arrives(
    clients: ClientFactory,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    """/graphql takes multipart bodies up to its largest file (an import roll, or a settlement
    file) plus room for the form; a longer one is cut off with 413 before it is parsed."""
    client = await clients(region="33.28", scopes=WRITER)
    small = _app_on(settings.model_copy(update={"import_max_bytes": 100_000}), sessions, engine)
    limit = upload_limits(small.state.settings)["/graphql"]
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        # A well-formed start, then one endless file part.
        nonlocal sent
        yield (
            b'--x\r\nContent-Disposition: form-data; name="0"; filename="roll.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n"
        )
        chunk = b"x" * 1_000_000
        while sent <= limit:
            sent += len(chunk)
            yield chunk

    transport = httpx.ASGITransport(app=small, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as limited:
        refused = await limited.post(
            "/graphql",
            content=body(),
            headers={**client.headers, "content-type": "multipart/form-data; boundary=x"},
        )
    assert refused.status_code == 413
    assert refused.json()["code"] == "content_too_large"
