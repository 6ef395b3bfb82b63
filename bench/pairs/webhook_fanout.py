"""Pair j (slow): webhook fan-out. ``--webhook-events`` change events (10,000 families of 3-4
members, as the feed pair seeds them) written in one transaction, each matching
``--webhook-subscriptions`` subscriptions (10) that point at a local receiver
(``bench/receiver.py``, a bare ASGI app counting requests): the service's dispatcher
(``dinsos worker``) delivers them, timed from the commit to the receiver's last count, against a
bare httpx loop posting the same signed messages (Standard Webhooks headers, HMAC-SHA256 with each
subscription's secret) to the same receiver: one task per subscription, in feed order, as the
dispatcher must keep order per subscription. The baseline reads the events from the database
in its time too. Rates are deliveries per second."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpcore
import httpx

from bench.baseline import change_json
from bench.context import BenchContext, service_environment
from bench.database import BenchDatabase
from bench.pairs import Pair
from bench.pairs.change_feed import country_villages, insert_events
from bench.processes import start_process, start_uvicorn, stop, stop_process, wait_until_ready
from bench.results import Check, PairResult, Table, fmt
from bench.subscriptions import (
    Subscription,
    Subscriptions,
    create_subscriptions,
    remove_subscriptions,
    sign,
)

POLL_SECONDS = 0.1
# A delivery run that makes no progress for this long has stalled.
STALL_SECONDS = 120.0

EVENTS_SQL = (
    "SELECT id, txid, entity, record_id, action, version, changed_fields, occurred_at,"
    " region_code, payload FROM change_event WHERE id BETWEEN $1 AND $2 ORDER BY txid, id"
)


@dataclass(frozen=True)
class Delivered:
    label: str
    deliveries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


class Receiver:
    """The counting receiver, a uvicorn process of its own."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def counts(self) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(self.url + "/count")
        response.raise_for_status()
        counts: dict[str, int] = response.json()
        return counts

    async def wait_for(self, total: int, alive: Callable[[], bool] | None = None) -> float:
        """Polls until ``total`` requests have arrived; answers when (``perf_counter``)."""
        last, last_change = -1, time.perf_counter()
        while True:
            received = (await self.counts())["received"]
            now = time.perf_counter()
            if received >= total:
                return now
            if received != last:
                last, last_change = received, now
            elif now - last_change > STALL_SECONDS:
                raise RuntimeError(f"deliveries stalled at {received:,} of {total:,}")
            if alive is not None and not alive():
                raise RuntimeError(f"the dispatcher exited after {received:,} of {total:,}")
            await asyncio.sleep(POLL_SECONDS)


def message_body(row: asyncpg.Record) -> bytes:
    """A webhook message: the change as the feed shows it, with its type and time."""
    return (
        f'{{"type":"{row["entity"]}.{row["action"]}",'
        f'"timestamp":"{row["occurred_at"].isoformat()}","data":{change_json(row)}}}'
    ).encode()


def signed_headers(subscription: Subscription, row: asyncpg.Record, body: bytes) -> dict[str, str]:
    message_id = f"msg_{row['id']}"
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(subscription.secret, message_id, timestamp, body),
    }


# Posts one message; raises unless the receiver answered 2xx.
Post = Callable[[str, dict[str, str], bytes], Awaitable[None]]


async def post_all(post: Post, subscription: Subscription, rows: list[asyncpg.Record]) -> None:
    """One subscription's messages, one after the other, in feed order."""
    for row in rows:
        body = message_body(row)
        await post(subscription.url, signed_headers(subscription, row, body), body)


@asynccontextmanager
async def httpx_poster(connections: int) -> AsyncIterator[Post]:
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def post(url: str, headers: dict[str, str], body: bytes) -> None:
            response = await http.post(url, content=body, headers=headers)
            if not response.is_success:
                raise RuntimeError(f"the receiver answered {response.status_code}")

        yield post


@asynccontextmanager
async def httpcore_poster(connections: int) -> AsyncIterator[Post]:
    """httpx's own transport, without the client above it: what the dispatcher sends with."""
    async with httpcore.AsyncConnectionPool(max_connections=connections) as pool:

        async def post(url: str, headers: dict[str, str], body: bytes) -> None:
            response = await pool.request("POST", url, headers=list(headers.items()), content=body)
            if not 200 <= response.status < 300:
                raise RuntimeError(f"the receiver answered {response.status}")

        yield post


BASELINES = {
    "baseline (httpx loop, task per subscription)": httpx_poster,
    "bare httpcore loop (reference)": httpcore_poster,
}


async def baseline_round(
    label: str,
    database: BenchDatabase,
    subscriptions: Subscriptions,
    events: tuple[int, int],
    receiver: Receiver,
) -> Delivered:
    before = (await receiver.counts())["received"]
    started = time.perf_counter()
    connection = await asyncpg.connect(database.dsn)
    try:
        rows = await connection.fetch(EVENTS_SQL, *events)
    finally:
        await connection.close()
    async with BASELINES[label](len(subscriptions.items)) as post:
        await asyncio.gather(*(post_all(post, item, rows) for item in subscriptions.items))
    seconds = time.perf_counter() - started
    deliveries = (await receiver.counts())["received"] - before
    return Delivered(label, deliveries, seconds)


@dataclass
class Fanout:
    """What the service side shares between rounds."""

    database: BenchDatabase
    subscriptions: Subscriptions
    client_id: str
    villages: list[str]
    receiver: Receiver
    next_family: int = 10_000_000

    async def write_events(self, count: int) -> tuple[tuple[int, int], int, float]:
        """``count`` events in one transaction; answers their id range, the deliveries the
        outbox queued for them (all of them, for the harness's subscriptions) and when the
        transaction had committed (``perf_counter``)."""
        first = self.next_family
        self.next_family += count
        connection = await asyncpg.connect(self.database.dsn)
        try:
            async with connection.transaction():
                low = await connection.fetchval("SELECT coalesce(max(id), 0) FROM change_event")
                await insert_events(
                    connection, first, first + count - 1, self.villages, self.client_id
                )
                high = await connection.fetchval("SELECT max(id) FROM change_event")
            committed = time.perf_counter()
            queued: int = await connection.fetchval(
                "SELECT count(*) FROM webhook_delivery WHERE event_id BETWEEN $1 AND $2"
                " AND subscription_id = any($3::uuid[])",
                low + 1,
                high,
                [item.id for item in self.subscriptions.items],
            )
        finally:
            await connection.close()
        return (low + 1, high), queued, committed


def dispatcher_command() -> list[str]:
    """``dinsos worker`` from the environment the harness runs in."""
    beside = Path(sys.executable).with_name("dinsos")
    executable = str(beside) if beside.exists() else shutil.which("dinsos")
    if executable is None:
        raise RuntimeError("no `dinsos` command: run `make sync` first")
    return [executable, "worker"]


async def service_round(
    fanout: Fanout, count: int, alive: Callable[[], bool]
) -> tuple[Delivered, tuple[int, int]]:
    before = (await fanout.receiver.counts())["received"]
    events, queued, committed = await fanout.write_events(count)
    expected = count * len(fanout.subscriptions.items)
    if queued != expected:
        raise RuntimeError(
            f"the outbox queued {queued:,} deliveries for {count:,} events and "
            f"{len(fanout.subscriptions.items)} subscriptions (expected {expected:,})"
        )
    finished = await fanout.receiver.wait_for(before + expected, alive)
    return Delivered("service (dinsos worker)", expected, finished - committed), events


async def run(context: BenchContext) -> PairResult:
    options = context.options
    count, subscribers = options.webhook_events, options.webhook_subscriptions
    logs = options.out_dir / "logs"
    receiver_server = start_uvicorn(
        "receiver", "bench.receiver:app", env={}, workers=1, log_dir=logs
    )
    worker = None
    subscriptions: Subscriptions | None = None
    try:
        wait_until_ready(receiver_server, "/healthz")
        receiver = Receiver(receiver_server.url)
        token = await context.token()
        urls = [f"{receiver.url}/hooks/{i}" for i in range(subscribers)]
        subscriptions = await create_subscriptions(
            context.database, context.service.url, token, context.client.client_id, urls
        )
        connection = await asyncpg.connect(context.database.dsn)
        try:
            villages = await country_villages(connection)
        finally:
            await connection.close()
        fanout = Fanout(
            context.database, subscriptions, context.client.client_id, villages, receiver
        )
        worker = start_process(
            dispatcher_command(),
            env=service_environment(context.database, options),
            log_path=logs / "dispatcher.log",
        )

        def alive() -> bool:
            return worker is not None and worker.poll() is None

        # Warm-up: one event to every subscription, so the dispatcher is up and connected.
        await service_round(fanout, 1, alive)
        served: list[Delivered] = []
        bare: dict[str, list[Delivered]] = {label: [] for label in BASELINES}
        for number in range(options.rounds):
            print(f"  round {number + 1}: {count:,} events x {subscribers} ...", flush=True)
            service, events = await service_round(fanout, count, alive)
            print(f"  service: {service.deliveries:,} in {service.seconds:.1f}s", flush=True)
            served.append(service)
            for label, results in bare.items():
                baseline = await baseline_round(
                    label, context.database, subscriptions, events, receiver
                )
                print(f"  {label}: {baseline.deliveries:,} in {baseline.seconds:.1f}s", flush=True)
                results.append(baseline)
        counts = await receiver.counts()
        connection = await asyncpg.connect(context.database.dsn)
        try:
            rows = await connection.fetch(
                "SELECT status, count(*) AS n FROM webhook_delivery"
                " WHERE subscription_id = any($1::uuid[]) GROUP BY status",
                [item.id for item in subscriptions.items],
            )
            statuses = {str(row["status"]): int(row["n"]) for row in rows}
        finally:
            await connection.close()
    finally:
        if worker is not None:
            stop_process(worker)
        if subscriptions is not None:
            await remove_subscriptions(context.database, subscriptions)
        stop(receiver_server)
    best_service = max(served, key=lambda d: d.rate)
    best_httpx, best_httpcore = (max(results, key=lambda d: d.rate) for results in bare.values())
    table = Table(
        ["side", "deliveries", "seconds", "deliveries/s"],
        [
            [d.label, f"{d.deliveries:,}", fmt(d.seconds), fmt(d.rate)]
            for d in (best_service, best_httpx, best_httpcore)
        ]
        + [
            ["ratio service / httpx loop", "", "", fmt(best_service.rate / best_httpx.rate, "x")],
            [
                "ratio service / httpcore loop",
                "",
                "",
                fmt(best_service.rate / best_httpcore.rate, "x"),
            ],
        ],
    )
    per_round = "; ".join(
        " / ".join(fmt(d.rate) for d in deliveries)
        for deliveries in zip(served, *bare.values(), strict=True)
    )
    notes = [
        f"{count:,} kpm events (~1.4 KB families) in one transaction per round, "
        f"{subscribers} subscriptions of the national bench client ("
        f"{subscriptions.describe()}), "
        "all on one receiver process; service timed from the commit to the receiver's count",
        f"deliveries/s per round (service / httpx / httpcore): {per_round}; the best of each "
        "is shown",
        "the dispatcher posts through httpcore (httpx's transport, behind its SSRF guard); the "
        "httpcore loop is the tighter floor, shown for reference; every loop reads the events, "
        "builds the envelope and signs each message in its time",
        f"receiver: {counts['received']:,} requests ({counts['unsigned']:,} unsigned); the "
        f"service's deliveries by status: {json.dumps(statuses)}",
    ]
    return PairResult(
        key="webhooks",
        title=f"webhook fan-out of {count:,} events to {subscribers} subscriptions: "
        "dinsos worker vs an httpx loop",
        tables=[table],
        checks=[
            Check(
                "deliveries/s service/httpx loop", best_service.rate / best_httpx.rate, 0.5, True
            ),
            Check(
                "deliveries/s service/httpcore loop (reference)",
                best_service.rate / best_httpcore.rate,
                0.5,
                True,
            ),
        ],
        notes=notes,
    )


PAIR = Pair("webhooks", "webhook fan-out: dispatcher vs a bare httpx loop", run, default=False)
