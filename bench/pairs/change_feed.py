"""Pair h (slow): draining the change feed, as a national reader far behind does, over
``--feed-events`` seeded change events (1,000,000 by default) of families in villages all over
the country, each carrying a family of 3 or 4 members (~1.5 KB of JSON). The service is drained
two ways: in one request (``GET /api/v1/changes/stream``, the catch-up) and page by page
(``GET /api/v1/changes``, ``limit`` 2000, the most a page holds) until an empty page. The
baseline serves the same rows and columns from one server-side cursor as JSON lines over HTTP
(``bench/baseline.py`` ``/changes/stream``), and pages them the same way (keyset on the same
index, no horizon, no scoping); both sides pay for HTTP and JSON, and the harness parses every
event on every side. A raw asyncpg cursor reading the rows in process gives the scale.

The service is measured with two tokens: ``changes:read pii:read`` (records unmasked, so every
family handed out is audited: one ``read_pii`` audit row per event; the targets apply to it)
and ``changes:read`` alone (masked numbers, nothing written)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx

from bench.context import BenchContext
from bench.database import BenchDatabase, checkpoint
from bench.pairs import Pair
from bench.results import Check, PairResult, Table, fmt
from service.changes import feed

# The most a feed page holds (``FEED_MAX_LIMIT``); the baseline pages the same.
PAGE = 2000
# One transaction per chunk of seeded events: the feed sees many writers, as in production.
SEED_CHUNK = 5000
# Every 40th village of the country: about 2,000 villages in every province.
VILLAGE_STRIDE = 40

# One family per event, shaped as the service's REST read shows it (``FamilyOut``): 3 or 4
# members, one enrollment. Its numbers follow the village's district, as real ones do.
SEED_SQL = """
INSERT INTO change_event (occurred_at, entity, record_id, action, region_code, version,
                          changed_fields, client_id, payload)
SELECT stamp, 'kpm', family_id::text, CASE WHEN version = 1 THEN 'create' ELSE 'update' END,
       village, version,
       CASE WHEN version = 1 THEN NULL ELSE ARRAY['address', 'desil'] END, $4::uuid,
       jsonb_build_object(
         'id', family_id, 'created_at', stamp, 'updated_at', stamp, 'version', version,
         'no_kk', district || '010123' || to_char(n % 9999 + 1, 'FM0000'),
         'village_code', village,
         'address', format('RT %s RW %s, Dusun Krajan', lpad((n % 12 + 1)::text, 2, '0'),
                           lpad((n % 8 + 1)::text, 2, '0')),
         'desil', n % 4 + 1, 'dtsen_id', NULL, 'facilitator_id', NULL,
         'verification_status', 'verified', 'archived_at', NULL, 'archive_reason', NULL,
         'members', (
           SELECT jsonb_agg(jsonb_build_object(
             'id', gen_random_uuid(),
             'nik', district || to_char(m * 7 + 10, 'FM00') || '0585'
                    || to_char(n % 9999 + 1, 'FM0000'),
             'name', (ARRAY['Slamet Riyadi', 'Siti Aminah', 'Budi Santoso', 'Dewi Lestari'])[m],
             'sex', (ARRAY['L', 'P', 'L', 'P'])[m],
             'birth_date', make_date((1960 + m * 9 + n % 7)::int, 5, (1 + m)::int),
             'relationship', (ARRAY['KEPALA_KELUARGA', 'ISTRI', 'ANAK', 'ANAK'])[m],
             'nik_mismatch', false) ORDER BY m)
           FROM generate_series(1, 3 + n % 2) AS m),
         'enrollments', jsonb_build_array(jsonb_build_object(
           'id', gen_random_uuid(), 'created_at', stamp, 'updated_at', stamp, 'version', 1,
           'family_id', family_id, 'program_code', 'PKH', 'status', 'active',
           'started_on', '2024-01-01', 'ended_on', NULL, 'graduation_kind', NULL,
           'credited_facilitator_id', NULL)))
FROM (
  SELECT n, gen_random_uuid() AS family_id, now() AS stamp, n % 3 + 1 AS version,
         ($3::text[])[n % array_length($3::text[], 1) + 1] AS village,
         replace(left(($3::text[])[n % array_length($3::text[], 1) + 1], 8), '.', '') AS district
  FROM generate_series($1::bigint, $2::bigint) AS n
) AS seeded
"""

RAW_SQL = (
    "SELECT id, txid, entity, record_id, action, version, changed_fields, occurred_at,"
    " region_code, payload FROM change_event ORDER BY txid, id"
)


@dataclass(frozen=True)
class Drained:
    label: str
    events: int
    requests: int
    seconds: float
    size: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def country_villages(connection: asyncpg.Connection) -> list[str]:
    """Every ``VILLAGE_STRIDE``-th village of the region tree, in code order."""
    villages: list[str] = await connection.fetchval(
        "SELECT array_agg(code ORDER BY code) FROM"
        " (SELECT code, row_number() OVER (ORDER BY code) AS n FROM region"
        "  WHERE length(code) = 13) AS v WHERE n % $1 = 0",
        VILLAGE_STRIDE,
    )
    return villages


async def insert_events(
    connection: asyncpg.Connection, first: int, last: int, villages: list[str], client_id: str
) -> None:
    """Events ``first`` to ``last`` (families numbered so), in one statement."""
    await connection.execute(SEED_SQL, first, last, villages, uuid.UUID(client_id))


async def seed_events(database: BenchDatabase, count: int, client_id: str) -> tuple[int, float]:
    """``count`` kpm change events in chunks of their own transactions (untimed); answers the
    events now in the table and the mean size of a payload as JSON text."""
    connection = await asyncpg.connect(database.dsn)
    try:
        villages = await country_villages(connection)
        for start in range(0, count, SEED_CHUNK):
            end = min(start + SEED_CHUNK, count) - 1
            await insert_events(connection, start, end, villages, client_id)
        total: int = await connection.fetchval("SELECT count(*) FROM change_event")
        mean: float = await connection.fetchval(
            "SELECT avg(length(payload::text)) FROM"
            " (SELECT payload FROM change_event WHERE entity = 'kpm' LIMIT 10000) AS sample"
        )
        await connection.execute("VACUUM ANALYZE change_event")
    finally:
        await connection.close()
    await checkpoint(database)
    return total, float(mean)


async def drain_pages(label: str, http: httpx.AsyncClient, path: str, limit: int = PAGE) -> Drained:
    """Page after page, ``next_cursor`` as ``after``, until a page comes back empty."""
    events = requests = size = 0
    after: str | None = None
    started = time.perf_counter()
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        response = await http.get(path, params=params)
        response.raise_for_status()
        requests += 1
        size += len(response.content)
        page = response.json()
        if not page["items"]:
            break
        events += len(page["items"])
        after = page["next_cursor"]
    return Drained(label, events, requests, time.perf_counter() - started, size)


async def drain_stream(label: str, http: httpx.AsyncClient, path: str) -> Drained:
    """One request; every JSON line parsed as it arrives."""
    events = size = 0
    pending = b""
    started = time.perf_counter()
    async with http.stream("GET", path) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            size += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            events += sum(is_change(json.loads(line)) for line in lines)
    if pending.strip():
        events += is_change(json.loads(pending))
    return Drained(label, events, 1, time.perf_counter() - started, size)


def is_change(line: dict[str, object]) -> bool:
    """A change, not one of the service stream's checkpoints (``{"next_cursor": ...}``)."""
    return "next_cursor" not in line


async def drain_raw(label: str, database: BenchDatabase) -> Drained:
    """The rows through an asyncpg cursor in this process: no HTTP, no JSON."""
    connection = await asyncpg.connect(database.dsn)
    events = 0
    try:
        started = time.perf_counter()
        async with connection.transaction():
            cursor = await connection.cursor(RAW_SQL)
            while rows := await cursor.fetch(PAGE):
                events += len(rows)
        return Drained(label, events, 0, time.perf_counter() - started, 0)
    finally:
        await connection.close()


def drained_table(sides: list[Drained], ratios: list[tuple[Drained, Drained]]) -> Table:
    rows = [
        [
            side.label,
            f"{side.events:,}",
            f"{side.requests:,}" if side.requests else "-",
            fmt(side.size / 2**20) if side.size else "-",
            fmt(side.seconds),
            fmt(side.rate),
        ]
        for side in sides
    ]
    rows.extend(
        [f"ratio {side.label} / {base.label}", "", "", "", "", fmt(side.rate / base.rate, "x")]
        for side, base in ratios
    )
    return Table(["side", "events", "requests", "MiB", "seconds", "events/s"], rows)


async def run(context: BenchContext) -> PairResult:
    count = context.options.feed_events
    print(f"  seeding {count:,} change events ...", flush=True)
    started = time.perf_counter()
    total, payload_size = await seed_events(context.database, count, context.client.client_id)
    print(f"  {total:,} events in the table ({time.perf_counter() - started:.0f}s)", flush=True)
    unmasked = await context.token("changes:read pii:read")
    masked = await context.token("changes:read")

    def service_side(label: str, token: str, *, streamed: bool) -> Callable[[], Awaitable[Drained]]:
        async def drain() -> Drained:
            async with httpx.AsyncClient(
                base_url=context.service.url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as http:
                if streamed:
                    return await drain_stream(label, http, "/api/v1/changes/stream")
                return await drain_pages(label, http, "/api/v1/changes")

        return drain

    async def baseline_stream() -> Drained:
        async with httpx.AsyncClient(base_url=context.baseline.url, timeout=120) as http:
            return await drain_stream("baseline stream (HTTP, cursor)", http, "/changes/stream")

    async def baseline_pages() -> Drained:
        async with httpx.AsyncClient(base_url=context.baseline.url, timeout=120) as http:
            return await drain_pages("baseline pages (HTTP, keyset)", http, "/changes")

    async def raw_cursor() -> Drained:
        return await drain_raw("raw asyncpg cursor (in process)", context.database)

    runs = [
        service_side("service stream (pii:read)", unmasked, streamed=True),
        service_side("service stream (masked)", masked, streamed=True),
        service_side("service pages (pii:read)", unmasked, streamed=False),
        service_side("service pages (masked)", masked, streamed=False),
        baseline_pages,
        baseline_stream,
        raw_cursor,
    ]
    sides: list[Drained] = []
    for drain in runs:
        side = await drain()
        print(f"  {side.label}: {side.events:,} events in {side.seconds:.1f}s", flush=True)
        sides.append(side)
    stream, service_pages, pages, baseline, raw = (sides[i] for i in (0, 2, 4, 5, 6))
    notes = [
        f"{count:,} seeded kpm events (families of 3-4 members, ~{payload_size:,.0f} bytes of "
        f"JSON each, in villages of every province, {SEED_CHUNK:,} per transaction) besides the "
        "events of the seeded roll; the reader is a national client",
        "service stream (GET /api/v1/changes/stream, the catch-up a reader far behind uses): "
        f"one cursor under the horizon, pages of {feed.STREAM_PAGE:,} lines each followed by "
        "a checkpoint line; with pii:read each page's read_pii audit rows (one per family, one "
        "COPY) committed on a second connection before the page is sent, while the next page "
        "is read",
        f"service pages (GET /api/v1/changes, limit {PAGE:,}): token and client row, horizon "
        "query, keyset page on (txid, id), the page's audit, the records as stored JSON text "
        "spliced in (decoded and masked only for the changes:read-only reader)",
        "the target is the service's stream against the baseline stream: both one request, "
        "both HTTP and JSON, both parsed line by line by the harness. The pages are measured "
        "against the baseline's pages (same page size, round trips and parsing); a reader that "
        "pages waits for each answer before asking for the next, which no server can hide",
        "baseline stream: the same columns from one server-side cursor (fetch 500), the jsonb "
        "payload spliced into each line as text; baseline pages: the same, keyset pages; raw "
        "asyncpg cursor: the rows read in process, no HTTP and no JSON parsed (for scale)",
    ]
    counts = {side.events for side in sides}
    if len(counts) != 1:
        notes.append(
            "the sides drained different numbers of events: "
            + ", ".join(f"{side.label} {side.events:,}" for side in sides)
        )
    return PairResult(
        key="feed",
        title=f"draining {total:,} change events: the service's feed vs a cursor over HTTP",
        tables=[drained_table(sides, [(stream, baseline), (service_pages, pages), (stream, raw)])],
        checks=[
            Check("feed stream events/s service/baseline", stream.rate / baseline.rate, 0.5, True),
            Check(
                "feed pages events/s service/baseline", service_pages.rate / pages.rate, 0.5, True
            ),
        ],
        notes=notes,
    )


PAIR = Pair("feed", "change feed drained (stream, pages) vs a cursor over HTTP", run, False)
