"""The list pair's second part (issue 12, item 5): one nested list of each domain read through
GraphQL. Per domain, the SQL statements one GraphQL request runs for a page of 1 and a page of
20 records (equal when the nested lists come through DataLoaders, not a query per record), and
the time of that GraphQL page against REST's list of the same 20 records.

The records are made here, through the service's own REST endpoints (in process), in a regency
the seeded roll does not use (Kabupaten Pekalongan, 33.26): 100 families, 20 of them visited
and enrolled in PK3E, 20 active KUBE groups of 5 with a grant each, 20 training cohorts with a
participant marked present, 21 allocations, 20 disbursements, 20 facilitators and 20 webhook
subscriptions of a client of their own (removed at the end, so that no later pair fans out to
them)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event

from api.app import create_app
from bench.context import JWT_KEY, BenchContext
from bench.database import ClientCredentials, create_bench_client
from bench.results import Check, Table, fmt
from service.database import create_engine, create_session_factory
from service.settings import Settings

REGENCY = "33.26"  # Kabupaten Pekalongan: not in the seeded roll
DISTRICT = "33.26.09"  # Kesesi
VILLAGE = "33.26.09.2001"  # Windurojo
SMALL_PAGE = 1
PAGE = 20
TIMED_REQUESTS = 30
HOOK_URL = "https://sidesa.example.go.id/hooks/dinsos"


@dataclass(frozen=True)
class Domain:
    label: str
    field: str
    graphql: str  # a query of ``$limit`` and the domain's variables
    rest: str  # REST's list of the same records, without ``limit``
    variables: dict[str, Any]
    webhooks: bool = False  # read by the webhook client, not the national one


@dataclass(frozen=True)
class DomainFigures:
    domain: Domain
    statements: dict[int, int]  # GraphQL, by page size
    rest_statements: int  # REST, page of PAGE
    graphql_p50_ms: float
    rest_p50_ms: float


def domains(allocation_id: str, cohort_marker: str) -> list[Domain]:
    return [
        Domain(
            "families -> members, enrollments -> history, verifications",
            "families",
            """query($limit: Int!, $v: String!) { families(filter: {villageCode: $v},
              limit: $limit) { items { id members { id name }
              enrollments { programCode history { toStatus onDate } }
              verifications { outcome visitedOn } } } }""",
            f"/api/v1/kpm?village_code={VILLAGE}",
            {"v": VILLAGE},
        ),
        Domain(
            "kubeGroups -> members",
            "kubeGroups",
            """query($limit: Int!, $v: String!) { kubeGroups(filter: {villageCode: $v},
              limit: $limit) { items { id name members { familyId role } } } }""",
            f"/api/v1/kube?village_code={VILLAGE}",
            {"v": VILLAGE},
        ),
        Domain(
            "kubeGrants -> group, transitions, reports",
            "kubeGrants",
            """query($limit: Int!, $v: String!) { kubeGrants(filter: {region: $v},
              limit: $limit) { items { id group { name } transitions { toStatus at }
              reports { reportDate } } } }""",
            f"/api/v1/kube-grants?region={VILLAGE}",
            {"v": VILLAGE},
        ),
        Domain(
            "trainingCohorts -> sessions -> attendance, participants",
            "trainingCohorts",
            """query($limit: Int!, $n: String!) { trainingCohorts(filter: {name: $n},
              limit: $limit) { items { id participantCount
              sessions { id heldOn attendance { participantId present } }
              participants { id memberId } } } }""",
            f"/api/v1/training-cohorts?name={cohort_marker}",
            {"n": cohort_marker},
        ),
        Domain(
            "allocations (no nested list)",
            "allocations",
            """query($limit: Int!, $r: String!) { allocations(filter: {region: $r},
              limit: $limit) { items { id fiscalYear amount remaining } } }""",
            f"/api/v1/allocations?region={REGENCY}",
            {"r": REGENCY},
        ),
        Domain(
            "disbursements -> transitions",
            "disbursements",
            """query($limit: Int!, $a: UUID!) { disbursements(filter: {allocationId: $a},
              limit: $limit) { items { id status transitions { toStatus at actor } } } }""",
            f"/api/v1/disbursements?allocation_id={allocation_id}",
            {"a": allocation_id},
        ),
        Domain(
            "facilitators (no nested list)",
            "facilitators",
            """query($limit: Int!, $r: String!) { facilitators(region: $r, limit: $limit)
              { items { id name kind regionCode } } }""",
            f"/api/v1/facilitators?region={VILLAGE}",
            {"r": VILLAGE},
        ),
        Domain(
            "webhooks (deliveries are a paged field of their own)",
            "webhooks",
            "query($limit: Int!) { webhooks(limit: $limit) { items { id url status } } }",
            "/api/v1/webhooks",
            {},
            webhooks=True,
        ),
    ]


# --- the records -----------------------------------------------------------------------------


def _family_body(serial: int) -> dict[str, Any]:
    """A family of two in Windurojo with structurally valid, unique NIKs and No KK."""
    district = DISTRICT.replace(".", "")
    return {
        "no_kk": f"{district}160523{serial:04d}",
        "village_code": VILLAGE,
        "address": "RT 01 RW 02",
        "desil": 2,
        "members": [
            {
                "nik": f"{district}120380{serial:04d}",
                "name": f"Slamet {serial}",
                "sex": "L",
                "birth_date": "1980-03-12",
                "relationship": "KEPALA_KELUARGA",
            },
            {
                "nik": f"{district}420788{serial:04d}",
                "name": f"Siti {serial}",
                "sex": "P",
                "birth_date": "1988-07-02",
                "relationship": "ISTRI",
            },
        ],
        "programs": ["PKH"],
    }


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if response.status_code not in (200, 201):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


async def seed(http: httpx.AsyncClient, hooks: httpx.AsyncClient) -> tuple[str, str, list[str]]:
    """The records of every domain; answers the disbursements' allocation, the cohorts' name
    marker and the webhook subscriptions' ids."""
    families = [await _post(http, "/api/v1/kpm", _family_body(n)) for n in range(1, 101)]
    for family in families[:PAGE]:
        await _post(
            http,
            f"/api/v1/kpm/{family['id']}/verifications",
            {"visited_on": "2026-03-02", "outcome": "eligible"},
        )
        await _post(http, f"/api/v1/kpm/{family['id']}/enrollments", {"program_code": "PK3E"})
    for index in range(PAGE):
        members = [
            {"family_id": f["id"], "role": "ketua" if n == 0 else "anggota"}
            for n, f in enumerate(families[index * 5 : index * 5 + 5])
        ]
        group = await _post(
            http,
            "/api/v1/kube",
            {
                "name": f"KUBE Windurojo {index}",
                "village_code": VILLAGE,
                "business_category": "kuliner",
                "members": members,
            },
        )
        await _post(http, f"/api/v1/kube/{group['id']}/transitions", {"to": "active"})
        await _post(
            http,
            "/api/v1/kube-grants",
            {"group_id": group["id"], "amount": 20_000_000, "purpose": "Modal usaha"},
        )
    marker = f"bench{uuid.uuid4().hex[:8]}"
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=n) for n in range(4)]
    for index in range(PAGE):
        cohort = await _post(
            http,
            "/api/v1/training-cohorts",
            {
                "name": f"Pelatihan {marker} {index}",
                "program_code": "PK3E",
                "topic": "menjahit",
                "region_code": DISTRICT,
                "venue": "Balai Desa Windurojo",
                "capacity": 30,
                "trainer_name": "Ibu Ratna",
                "sessions": [{"held_on": day.isoformat()} for day in days],
            },
        )
        member_id = families[index]["members"][0]["id"]
        person = await _post(
            http, f"/api/v1/training-cohorts/{cohort['id']}/participants", {"member_id": member_id}
        )
        await _post(http, f"/api/v1/training-cohorts/{cohort['id']}/transitions", {"to": "running"})
        sheet = await http.put(
            f"/api/v1/training-cohorts/{cohort['id']}/sessions/"
            f"{cohort['sessions'][0]['id']}/attendance",
            json={"records": [{"participant_id": person["id"], "present": True}]},
        )
        sheet.raise_for_status()
    allocation = {
        "program_code": "PK3E",
        "funding_source": "APBD_KABKOTA",
        "region_code": REGENCY,
        "amount": 1_600_000_000,
    }
    paying = await _post(http, "/api/v1/allocations", {**allocation, "fiscal_year": 2026})
    for year in range(2071, 2071 + PAGE):
        await _post(http, "/api/v1/allocations", {**allocation, "fiscal_year": year})
    for family in families[:PAGE]:
        await _post(
            http,
            "/api/v1/disbursements",
            {
                "allocation_id": paying["id"],
                "recipient_kind": "kpm",
                "recipient_id": family["id"],
                "amount": 2_500_000,
                "purpose": "Modal usaha",
                "channel": "bank_transfer",
                "period": "2026-Q1",
            },
        )
    for index in range(PAGE):
        await _post(
            http,
            "/api/v1/facilitators",
            {"name": f"Pendamping Windurojo {index}", "kind": "PKH", "region_code": VILLAGE},
        )
    webhooks = [await _post(hooks, "/api/v1/webhooks", {"url": HOOK_URL}) for _ in range(PAGE)]
    return str(paying["id"]), marker, [str(hook["id"]) for hook in webhooks]


# --- measuring -------------------------------------------------------------------------------


def _ids(body: dict[str, Any], field: str | None) -> list[str]:
    if field is not None:
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        body = body["data"][field]
    return [str(item["id"]) for item in body["items"]]


async def _read(
    http: httpx.AsyncClient, domain: Domain, door: str, limit: int, headers: dict[str, str]
) -> list[str]:
    if door == "GraphQL":
        response = await http.post(
            "/graphql",
            json={"query": domain.graphql, "variables": {"limit": limit, **domain.variables}},
            headers=headers,
        )
    else:
        separator = "&" if "?" in domain.rest else "?"
        response = await http.get(f"{domain.rest}{separator}limit={limit}", headers=headers)
    response.raise_for_status()
    return _ids(response.json(), domain.field if door == "GraphQL" else None)


async def _token(http: httpx.AsyncClient, credentials: ClientCredentials) -> dict[str, str]:
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@asynccontextmanager
async def _in_process(
    context: BenchContext,
) -> AsyncIterator[tuple[httpx.ASGITransport, list[int]]]:
    """The app over ASGI on an engine of its own, and the count of statements it runs."""
    settings = Settings(
        database_url=context.database.url,
        data_dir=context.options.out_dir / "in-process-nested",
        jwt_key=JWT_KEY,
        create_demo_client=False,
    )
    app = create_app(settings, database_url=context.database.url)
    engine = create_engine(context.database.url, settings)
    app.state.engine = engine  # ASGITransport runs no lifespan
    app.state.sessions = create_session_factory(engine)
    app.state.read_sessions = app.state.sessions
    counted = [0]

    def count(*_args: object) -> None:
        counted[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield httpx.ASGITransport(app=app), counted
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await engine.dispose()


async def _p50_ms(
    http: httpx.AsyncClient, domain: Domain, headers: dict[str, str]
) -> dict[str, float]:
    """Sequential requests to the running service, the doors taking turns, after a warm-up."""
    times: dict[str, list[float]] = {"GraphQL": [], "REST": []}
    for door in times:
        for _ in range(3):
            await _read(http, domain, door, PAGE, headers)
    for _ in range(TIMED_REQUESTS):
        for door, seen in times.items():
            started = time.perf_counter()
            await _read(http, domain, door, PAGE, headers)
            seen.append((time.perf_counter() - started) * 1000)
    return {door: statistics.median(seen) for door, seen in times.items()}


async def measure(context: BenchContext) -> list[DomainFigures]:
    hooks_client = await create_bench_client(
        context.database, name="bench-nested-lists", scopes=["webhooks:manage", "changes:read"]
    )
    figures: list[DomainFigures] = []
    async with (
        _in_process(context) as (transport, counted),
        httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http,
    ):
        national = await _token(http, context.client)
        hooks = await _token(http, hooks_client)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=national, timeout=120
            ) as national_http,
            httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=hooks, timeout=120
            ) as hooks_http,
        ):
            allocation_id, marker, webhook_ids = await seed(national_http, hooks_http)
        try:
            async with httpx.AsyncClient(base_url=context.service.url, timeout=120) as service:
                for domain in domains(allocation_id, marker):
                    headers = hooks if domain.webhooks else national
                    statements: dict[int, int] = {}
                    ids: dict[tuple[str, int], list[str]] = {}
                    for door, limit in (("GraphQL", SMALL_PAGE), ("GraphQL", PAGE), ("REST", PAGE)):
                        await _read(http, domain, door, limit, headers)  # warm
                        counted[0] = 0
                        ids[door, limit] = await _read(http, domain, door, limit, headers)
                        statements[limit if door == "GraphQL" else -1] = counted[0]
                    if ids["GraphQL", PAGE] != ids["REST", PAGE] or len(ids["REST", PAGE]) != PAGE:
                        raise RuntimeError(f"{domain.field}: the doors return different pages")
                    p50 = await _p50_ms(service, domain, headers)
                    figures.append(
                        DomainFigures(
                            domain,
                            {SMALL_PAGE: statements[SMALL_PAGE], PAGE: statements[PAGE]},
                            statements[-1],
                            p50["GraphQL"],
                            p50["REST"],
                        )
                    )
        finally:
            for webhook_id in webhook_ids:
                removed = await http.delete(f"/api/v1/webhooks/{webhook_id}", headers=hooks)
                removed.raise_for_status()
    return figures


def table(figures: list[DomainFigures]) -> Table:
    return Table(
        [
            "GraphQL list -> nested lists",
            f"statements, page {SMALL_PAGE}",
            f"statements, page {PAGE}",
            f"REST statements, page {PAGE}",
            f"GraphQL p50 ms, page {PAGE}",
            f"REST p50 ms, page {PAGE}",
            "ratio p50",
        ],
        [
            [
                f.domain.label,
                str(f.statements[SMALL_PAGE]),
                str(f.statements[PAGE]),
                str(f.rest_statements),
                fmt(f.graphql_p50_ms),
                fmt(f.rest_p50_ms),
                fmt(f.graphql_p50_ms / f.rest_p50_ms, "x"),
            ]
            for f in figures
        ],
    )


def checks(figures: list[DomainFigures]) -> list[Check]:
    return [
        Check(
            f"statements per request GraphQL {f.domain.field}, page {PAGE} / page {SMALL_PAGE}",
            f.statements[PAGE] / f.statements[SMALL_PAGE],
            1.0,
            False,
        )
        for f in figures
    ]


NOTE = (
    f"nested lists: {PAGE} records of each domain made through REST in Kabupaten Pekalongan "
    f"(33.26), statements counted in process after one warm-up request; p50 of "
    f"{TIMED_REQUESTS} sequential requests per door against the running service, the doors "
    "taking turns (one connection, no wrk), GraphQL reading the nested lists, REST the same "
    "records' list without them; no target on the time"
)
