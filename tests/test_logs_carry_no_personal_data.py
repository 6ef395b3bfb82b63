"""The logs of a real `dinsos serve`, at DEBUG, after a suite's worth of requests carrying
personal data through every door: no NIK, No KK, name, address, client secret, webhook secret or
token appears in any line of what the process printed (issue 10, "a log test").

The requests cover the REST and GraphQL reads and writes, masked and unmasked reads, filters in
query strings and in GraphQL literals and variables, refused input of every kind, wrong secrets
at the token endpoint, an import with a refused row, an export and a webhook subscription."""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from service.auth import clients as auth_clients
from service.auth.scopes import ALL_SCOPES
from service.database import async_url, create_session_factory
from service.kpm.import_files import FIELDS
from tests.conftest import prepared_database
from tests.factories import family_body, member_body, nik_for, no_kk_for
from tests.test_serve import _free_port, _start, _stop, _wait_ready
from tests.webhooks.receiver import Received, running_receiver

JWT_KEY = "log-test-signing-key-that-is-long-enough-for-hs256"
VILLAGE = "33.28.02.2001"  # Guci, Bumijawa, Kabupaten Tegal
# Names no log line could contain by chance; every one of them is sent somewhere.
NAMES = [  # fmt: skip
    "Sukarti Wulandari",
    "Paijo Setyobudi",
    "Ngatini Rahayuningsih",
    "Tukiyem Sastrowardoyo",
    "Darmini Kusumawati",
    "Wagiman Cokrodiharjo",
    "Sarinem Pujiastuti",
    "Legiyo Hadisuwarno",
]
ADDRESS = "Jalan Kenanga Wungu RT 07 RW 03"


async def _new_client(url: str, scopes: list[str], region: str | None) -> tuple[str, str]:
    engine = create_async_engine(async_url(url))
    try:
        async with create_session_factory(engine)() as session:
            created = await auth_clients.create_client(
                session, auth_clients.operator(), name="log test", scopes=scopes, region_code=region
            )
            await session.commit()
            return str(created.client.id), created.secret
    finally:
        await engine.dispose()


async def _unavailable(_: Received) -> int:
    return 503


class Exchange:
    """Requests to the served process; remembers every secret and personal value it sent or got."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.sensitive: set[str] = set()

    def keep(self, *values: str) -> None:
        for value in filter(None, values):
            # As sent in a query string or a form, too; and a name's words one by one.
            self.sensitive.update({value, quote(value), quote_plus(value)})
            self.sensitive.update(word for word in value.split() if len(word) >= 6)

    async def token(self, client_id: str, secret: str) -> dict[str, str]:
        self.keep(secret)
        answer = await self.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        # The whole token, and its signature alone (a log could print a token split at dots).
        self.keep(token, token.rsplit(".", 1)[1])
        return {"Authorization": f"Bearer {token}"}

    def family(self, names: list[str]) -> dict[str, Any]:
        body = family_body(VILLAGE, address=ADDRESS)
        for member, name in zip(body["members"], names, strict=True):
            member["name"] = name
        self.keep(body["no_kk"], *(m["nik"] for m in body["members"]), *names, ADDRESS)
        return body


def _graphql_input(body: dict[str, Any]) -> dict[str, Any]:
    renamed = {"no_kk": "noKk", "village_code": "villageCode", "birth_date": "birthDate"}
    converted = {renamed.get(k, k): v for k, v in body.items() if k != "members"}
    converted["members"] = [{renamed.get(k, k): v for k, v in m.items()} for m in body["members"]]
    return converted


async def _drive(
    exchange: Exchange, national: tuple[str, str], masked: tuple[str, str], hook_url: str
) -> int:
    """Every request below carries or returns personal data or a secret; answers how many."""
    http, sent = exchange.http, 0

    async def call(
        method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        nonlocal sent
        sent += 1
        return await http.request(method, path, headers=headers, **kwargs)

    # Wrong secrets: a known client with another's secret, a made-up secret, an unknown client.
    wrong = "not-the-secret-" + "x7Qz" * 8
    exchange.keep(wrong)
    for client_id, secret in (
        (national[0], masked[1]),
        (national[0], wrong),
        ("00000000-0000-4000-8000-000000000000", wrong),
    ):
        refused = await call(
            "POST",
            "/oauth/token",
            {},
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert refused.status_code in (400, 401), refused.text
    basic = await call(
        "POST",
        "/oauth/token",
        {},
        data={"grant_type": "client_credentials"},
        auth=(masked[0], wrong),
    )
    assert basic.status_code in (400, 401)

    admin = await exchange.token(*national)
    reader = await exchange.token(*masked)
    sent += 2
    garbled = {"Authorization": "Bearer " + admin["Authorization"][7:-6] + "AAAAAA"}
    assert (await call("GET", "/api/v1/kpm", garbled)).status_code == 401

    # A webhook subscription first (its secret comes back once; the URL carries a token of the
    # receiver's), so that the writes below are delivered, and refused, while the test runs.
    hook_token = "hook-token-" + "Wq9" * 8
    exchange.keep(hook_token)
    hook = await call(
        "POST", "/api/v1/webhooks", admin,
        json={"url": f"{hook_url}?token={hook_token}", "event_types": ["kpm"]},
    )  # fmt: skip
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["id"]
    exchange.keep(hook.json()["secret"])

    # REST writes and reads, unmasked and masked, and the filters that carry personal data.
    first, second = exchange.family(NAMES[0:3]), exchange.family(NAMES[3:6])
    ids = []
    for body in (first, second):
        created = await call("POST", "/api/v1/kpm", admin, json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    for headers in (admin, reader):
        read = await call("GET", f"/api/v1/kpm/{ids[0]}", headers)
        assert read.status_code == 200, read.text
    assert first["members"][0]["nik"] in (await call("GET", f"/api/v1/kpm/{ids[0]}", admin)).text
    nik, no_kk = first["members"][0]["nik"], first["no_kk"]
    for params in ({"nik": nik}, {"no_kk": no_kk}, {"name": NAMES[0]}, {"name": NAMES[4][:9]}):
        for headers in (admin, reader):
            listed = await call("GET", "/api/v1/kpm", headers, params=params)
            assert listed.status_code == 200, listed.text
    # Refusals: a duplicate NIK, a NIK too long, a NIK as a number, a bad filter, a bad JSON.
    duplicate = exchange.family(NAMES[6:8] + [NAMES[0]])
    duplicate["members"][0]["nik"] = nik
    assert (await call("POST", "/api/v1/kpm", admin, json=duplicate)).status_code == 409
    too_long = exchange.family(NAMES[6:8] + [NAMES[1]])
    too_long["members"][1]["nik"] += "99"
    exchange.keep(too_long["members"][1]["nik"])
    assert (await call("POST", "/api/v1/kpm", admin, json=too_long)).status_code == 422
    as_number = exchange.family(NAMES[6:8] + [NAMES[2]])
    as_number["members"][0]["nik"] = int(as_number["members"][0]["nik"])
    assert (await call("POST", "/api/v1/kpm", admin, json=as_number)).status_code == 422
    long_filter = nik + "1"
    exchange.keep(long_filter)
    assert (await call("GET", "/api/v1/kpm", admin, params={"nik": long_filter})).status_code == 422
    broken = '{"no_kk": "' + no_kk + '", "members": [{"nik": "' + nik + '"'
    malformed = await call(
        "POST", "/api/v1/kpm", {**admin, "Content-Type": "application/json"}, content=broken
    )
    assert malformed.status_code in (400, 422)
    member = member_body("ANAK", district="33.28.02", name=NAMES[7])
    exchange.keep(member["nik"])
    etag = (await call("GET", f"/api/v1/kpm/{ids[1]}", admin)).headers["etag"]
    added = await call(
        "POST", f"/api/v1/kpm/{ids[1]}/members", {**admin, "If-Match": etag}, json=member
    )
    assert added.status_code in (200, 201), added.text

    # GraphQL: a mutation with variables, one with inline literals, reads with both filters,
    # and refused input (an unknown field, a NIK typed as a number, a NIK too long).
    create = "mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }"
    third = exchange.family(NAMES[5:8])
    made = await call(
        "POST", "/graphql", admin, json={"query": create, "variables": {"i": _graphql_input(third)}}
    )
    assert "errors" not in made.json(), made.text
    fourth = _graphql_input(exchange.family(NAMES[0:2] + [NAMES[7]]))
    members = ", ".join(
        f'{{nik: "{m["nik"]}", name: "{m["name"]}", sex: "{m["sex"]}", '
        f'birthDate: "{m["birthDate"]}", relationship: "{m["relationship"]}"}}'
        for m in fourth["members"]
    )
    literal = (
        f'mutation {{ createFamily(input: {{noKk: "{fourth["noKk"]}", villageCode: '
        f'"{VILLAGE}", address: "{ADDRESS}", members: [{members}]}}) {{ id }} }}'
    )
    made = await call("POST", "/graphql", admin, json={"query": literal})
    assert "errors" not in made.json(), made.text
    for headers in (admin, reader):
        for query, variables in (
            (
                f'{{ families(filter: {{nik: "{nik}"}}) {{ items {{ members {{ name }} }} }} }}',
                None,
            ),
            (
                "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }",
                {"f": {"noKk": no_kk, "name": NAMES[3]}},
            ),
        ):
            found = await call(
                "POST", "/graphql", headers, json={"query": query, "variables": variables}
            )
            assert "errors" not in found.json(), found.text
    bogus = literal.replace("members:", "bogus: 1, members:")
    as_int = literal.replace(
        f'nik: "{fourth["members"][0]["nik"]}"', f"nik: {fourth['members'][0]['nik']}"
    )
    wrong_variable = _graphql_input(exchange.family(NAMES[2:5]))
    wrong_variable["members"][0]["nik"] = int(wrong_variable["members"][0]["nik"])
    for payload in (
        {"query": bogus},
        {"query": as_int},
        {"query": create, "variables": {"i": wrong_variable}},
        {"query": literal[:-5]},
    ):
        refused = await call("POST", "/graphql", admin, json=payload)
        assert refused.json().get("errors"), refused.text

    # An import with one good family and one refused row, and the export of the village.
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(FIELDS)
    imported = exchange.family(NAMES[1:4])
    for person in imported["members"]:
        row = {
            **person,
            "no_kk": imported["no_kk"],
            "village_code": VILLAGE,
            "address": ADDRESS,
            "desil": "3",
            "programs": "PKH",
        }
        writer.writerow([row[name] for name in FIELDS])
    bad_no_kk = no_kk_for("33.28.02")[:-1]
    birth = dt.date(1970, 1, 1)
    bad_nik = nik_for("33.28.02", birth, female=False)[:-2]
    exchange.keep(bad_no_kk, bad_nik)
    writer.writerow(
        [
            {
                "no_kk": bad_no_kk,
                "nik": bad_nik,
                "name": NAMES[6],
                "relationship": "KEPALA_KELUARGA",
                "sex": "L",
                "birth_date": birth.isoformat(),
                "village_code": VILLAGE,
                "address": ADDRESS,
                "desil": "3",
                "programs": "PKH",
            }[name]
            for name in FIELDS
        ]
    )
    started = await call(
        "POST", "/api/v1/kpm/imports?format=csv", admin, content=rows.getvalue().encode()
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = (await call("GET", started.headers["location"], admin)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done", job
    refusals = await call("GET", started.headers["location"] + "/refusals", admin)
    assert refusals.json()["items"], refusals.text
    exported = await call(
        "GET", "/api/v1/kpm/export", admin, params={"format": "csv", "region": "33.28.02"}
    )
    assert exported.status_code == 200
    assert imported["members"][0]["nik"] in exported.text
    masked_export = await call(
        "GET", "/api/v1/kpm/export", reader, params={"format": "csv", "region": "33.28"}
    )
    assert masked_export.status_code in (200, 403), masked_export.text

    # The dispatcher has tried the hook (and logged the failure) for a change made above.
    for _ in range(600):
        tried = await call("GET", f"/api/v1/webhooks/{hook_id}/deliveries", admin)
        if any(delivery["attempts"] for delivery in tried.json()["items"]):
            break
        await asyncio.sleep(0.1)
    assert any(delivery["last_status_code"] == 503 for delivery in tried.json()["items"])
    return sent + await _drive_edges(exchange, national, admin)


async def _drive_edges(exchange: Exchange, national: tuple[str, str], admin: dict[str, str]) -> int:
    """The requests most likely to make a process log what it holds: database refusals (NUL
    bytes, a race on one NIK), HTTP Basic credentials, a rotated webhook secret."""
    http, sent = exchange.http, 0
    basic = base64.b64encode(f"{national[0]}:{national[1]}".encode()).decode()
    exchange.keep(basic)
    token = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    sent += 1
    assert token.status_code == 200, token.text
    exchange.keep(token.json()["access_token"])

    with_nul = exchange.family(NAMES[0:3])
    with_nul["members"][0]["name"] = NAMES[0] + "\x00"
    refused = await http.post("/api/v1/kpm", json=with_nul, headers=admin)
    sent += 1
    assert refused.status_code == 422, refused.text
    nik = with_nul["members"][1]["nik"]
    for params in ({"nik": nik + "\x00"}, {"name": NAMES[1] + "\x00"}):
        sent += 1
        assert (await http.get("/api/v1/kpm", params=params, headers=admin)).status_code == 422
    query = "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }"
    answer = await http.post(
        "/graphql",
        json={"query": query, "variables": {"f": {"name": NAMES[2] + "\x00", "noKk": nik}}},
        headers=admin,
    )
    sent += 1
    assert answer.json().get("errors"), answer.text

    # Five writers of the same family at once: one wins, the others are refused.
    same = exchange.family(NAMES[3:6])
    raced = await asyncio.gather(
        *(http.post("/api/v1/kpm", json=same, headers=admin) for _ in range(5))
    )
    sent += 5
    assert sorted(answer.status_code for answer in raced) == [201, 409, 409, 409, 409]

    hooks = (await http.get("/api/v1/webhooks", headers=admin)).json()["items"]
    rotated = await http.post(f"/api/v1/webhooks/{hooks[0]['id']}/rotate-secret", headers=admin)
    sent += 2
    assert rotated.status_code == 200, rotated.text
    exchange.keep(rotated.json()["secret"])
    return sent


async def test_no_personal_value_secret_or_token_reaches_the_logs(
    server_url: str, tmp_path: Path
) -> None:
    async with prepared_database(server_url) as url:
        national = await _new_client(url, sorted(ALL_SCOPES), None)
        masked = await _new_client(url, ["kpm:read", "kpm:write"], "33.28")
        port = _free_port()
        process = _start(
            {
                "DATABASE_URL": url,
                "DINSOS_DATA_DIR": str(tmp_path),
                "DINSOS_LOG_LEVEL": "DEBUG",
                "DINSOS_JWT_KEY": JWT_KEY,
                # The receiver below listens on plain HTTP on the loopback.
                "DINSOS_WEBHOOK_ALLOW_HTTP": "true",
                "DINSOS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
                "DINSOS_WEBHOOK_POLL_SECONDS": "0.2",
            },
            port,
        )
        try:
            _wait_ready(process, port)
            async with (
                running_receiver() as receiver,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
            ):
                receiver.answer = _unavailable
                exchange = Exchange(http)
                exchange.keep(national[1], masked[1])
                sent = await _drive(exchange, national, masked, receiver.url("hook"))
        finally:
            output = _stop(process)

    lines = output.splitlines()
    # The process did log, at DEBUG, one access line per request: the check below saw them.
    access = [json.loads(line) for line in lines if line.startswith("{") and '"route"' in line]
    assert len(access) >= sent, output[-3000:]
    assert any('"DEBUG"' in line for line in lines)
    assert any("webhook delivery" in line for line in lines)
    # No traceback either: one would print the locals' reprs of whatever failed.
    assert "Traceback" not in output
    leaks = {
        value: [line for line in lines if value in line][:2]
        for value in exchange.sensitive
        if value in output
    }
    assert not leaks, json.dumps(leaks, indent=1)
    # Every NIK and No KK made here is of Kabupaten Tegal (3328...): none appears, whichever
    # request it came from (a fraction's digits, after a dot, are not one).
    numbers = re.findall(r".{0,80}(?<![\d.])3328\d{12}(?!\d).{0,40}", output)
    assert not numbers, numbers[:3]
