"""What every pair gets: the database, the two running servers, the API client, wrk and the
options of the run; plus the side-by-side wrk comparison most pairs are made of."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.database import BenchDatabase, ClientCredentials
from bench.processes import Server
from bench.results import Check, Table, fmt
from bench.wrk import Target, WrkResult, WrkSettings, run_wrk

# Both the service subprocess and in-process apps sign and check tokens with this key.
JWT_KEY = "bench-signing-key-not-a-secret-0123456789abcdef"


@dataclass
class Options:
    only: list[str]
    rounds: int
    wrk: WrkSettings
    # Pair c's pages of 500 families take long: fewer connections, so latency is not queueing.
    list_connections: int
    workers: int
    seed_families: int
    families: int
    database_url: str | None
    keep_database: bool
    record: bool
    generator: Path | None
    out_dir: Path
    # The change feed pair's seeded events, and the webhook pairs' events and subscriptions.
    feed_events: int = 1_000_000
    webhook_events: int = 10_000
    webhook_subscriptions: int = 10
    # The xlsx pair's roll: ``--families`` when given, else its own smaller default.
    export_families: int | None = None


def service_environment(database: BenchDatabase, options: Options) -> dict[str, str]:
    """The service as the container runs it (``uvicorn api.main:app``), configured by env."""
    return {
        "DATABASE_URL": database.url,
        "DINSOS_DATABASE_URL": database.url,
        "DINSOS_JWT_KEY": JWT_KEY,
        "DINSOS_DATA_DIR": str(options.out_dir / "service-data"),
        "DINSOS_CREATE_DEMO_CLIENT": "false",
        # Long enough for the slowest pair; each pair still asks for its own token.
        "DINSOS_TOKEN_TTL_SECONDS": "3600",
        "DINSOS_LOG_LEVEL": "WARNING",
        # No dispatcher inside the service under test: the webhooks pair runs `dinsos worker`
        # apart, and the kpm-write pair measures the write path alone.
        "DINSOS_WEBHOOK_DISPATCHER": "false",
        # The webhook pairs' receiver listens on 127.0.0.1, over plain HTTP.
        "DINSOS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "DINSOS_WEBHOOK_ALLOW_HTTP": "true",
    }


@dataclass
class BenchContext:
    options: Options
    database: BenchDatabase
    service: Server
    baseline: Server
    client: ClientCredentials
    wrk_executable: str
    # Set up by the run before the pairs: a seeded family with several members.
    family_id: uuid.UUID | None = None
    # Pairs may leave things for later pairs here (e.g. the large roll once it is imported).
    state: dict[str, Any] = field(default_factory=dict)

    async def token(self, scope: str | None = None) -> str:
        """A fresh access token from the running service's own ``POST /oauth/token``."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
        }
        if scope:
            form["scope"] = scope
        async with httpx.AsyncClient(base_url=self.service.url, timeout=30) as http:
            response = await http.post("/oauth/token", data=form)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


@dataclass(frozen=True)
class Sides:
    """The best round (highest throughput) of each target, and every round for the record."""

    best: list[WrkResult]
    rounds: list[list[WrkResult]]

    @property
    def service(self) -> WrkResult:
        return self.best[0]

    @property
    def baseline(self) -> WrkResult:
        return self.best[-1]


# Called before each wrk run with the target, the run's duration in seconds and that target's
# previous result (None before its first run); answers the target to run, e.g. with a fresh
# list of values for its request bodies.
Prepare = Callable[[Target, int, WrkResult | None], Awaitable[Target]]


async def compare_with_wrk(
    context: BenchContext,
    targets: list[Target],
    settings: WrkSettings | None = None,
    prepare: Prepare | None = None,
) -> Sides:
    """Warm every target up, then ``rounds`` rounds with the same wrk settings, rotating which
    target goes first, so that a neighbour's load hits all sides alike. The first target is the
    service, the last the baseline; the best round of each is kept. ``prepare`` may change a
    target before each of its runs (warm-up included); it also gets the run's duration."""
    settings = settings or context.options.wrk
    exe = context.wrk_executable
    last: dict[int, WrkResult] = {}

    async def measure(index: int, duration_s: int) -> WrkResult:
        target = targets[index]
        if prepare is not None:
            target = await prepare(target, duration_s, last.get(index))
        last[index] = await run_wrk(exe, settings, target, duration_s=duration_s)
        return last[index]

    if settings.warmup_s > 0:
        for index in range(len(targets)):
            await measure(index, settings.warmup_s)
    rounds: list[list[WrkResult]] = []
    for number in range(context.options.rounds):
        shift = number % len(targets)
        order = list(range(len(targets)))[shift:] + list(range(len(targets)))[:shift]
        measured: dict[int, WrkResult] = {}
        for index in order:
            measured[index] = await measure(index, settings.duration_s)
        rounds.append([measured[i] for i in range(len(targets))])
    for round_results in rounds:
        for target, result in zip(targets, round_results, strict=True):
            if result.error_count:
                raise RuntimeError(f"{target.label}: wrk counted errors {result.errors}")
    best = [
        max((r[i] for r in rounds), key=lambda result: result.requests_per_s)
        for i in range(len(targets))
    ]
    return Sides(best, rounds)


def throughput_table(targets: list[Target], sides: Sides) -> Table:
    rows = [
        [t.label, fmt(r.requests_per_s), fmt(r.p50_ms), fmt(r.p90_ms), fmt(r.p99_ms)]
        for t, r in zip(targets, sides.best, strict=True)
    ]
    s, b = sides.service, sides.baseline
    rows.append(
        [
            f"ratio {targets[0].label} / {targets[-1].label}",
            fmt(s.requests_per_s / b.requests_per_s, "x"),
            fmt(s.p50_ms / b.p50_ms, "x"),
            fmt(s.p90_ms / b.p90_ms, "x"),
            fmt(s.p99_ms / b.p99_ms, "x"),
        ]
    )
    return Table(["side", "req/s", "p50 ms", "p90 ms", "p99 ms"], rows)


def rounds_note(targets: list[Target], sides: Sides) -> str:
    per_round = "; ".join(
        " / ".join(fmt(result.requests_per_s) for result in round_results)
        for round_results in sides.rounds
    )
    labels = " / ".join(target.label for target in targets)
    return f"req/s per round ({labels}): {per_round}; the best round of each side is shown"


def throughput_checks(
    sides: Sides, *, min_throughput: float, max_p99: float, label: str = "service/baseline"
) -> list[Check]:
    s, b = sides.service, sides.baseline
    return [
        Check(f"throughput {label}", s.requests_per_s / b.requests_per_s, min_throughput, True),
        Check(f"p99 {label}", s.p99_ms / b.p99_ms, max_p99, False),
    ]
