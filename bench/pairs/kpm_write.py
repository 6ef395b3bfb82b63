"""Pair i (slow): what webhook subscriptions cost a write. wrk sends ``POST /api/v1/kpm`` to
the running service, each request registering another family (a body and an Idempotency-Key of
its own, from ``wrk_report.lua``'s body-per-request mode), once with ``--webhook-subscriptions``
active subscriptions that all match (10 by default: the outbox writes one ``webhook_delivery``
row per subscription in the transaction of the write) and once with none. Same service, same
database, same token; the subscriptions are made before each run of that side and deleted
(with their deliveries) before each run of the other.

No dispatcher runs: the deliveries stay pending. The target is the cost of the write path (the
outbox rows in the writer's transaction), which a request pays whatever the dispatcher does;
the dispatcher runs in its own process (``dinsos worker``), elsewhere in production, and here it
would take CPU from the service on the same two cores and measure the receiver too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import uuid

import asyncpg

from bench.context import BenchContext, compare_with_wrk, rounds_note, throughput_table
from bench.pairs import Pair
from bench.results import Check, PairResult
from bench.roll import villages_of
from bench.subscriptions import Subscriptions, create_subscriptions, remove_subscriptions
from bench.wrk import Target, WrkResult

# Sleman (DI Yogyakarta): no seeded family lives there, so no number can collide with theirs.
REGENCY = "34.04"
FIRST_GUESS_RPS = 400.0
HEADROOM = 1.5
# Where the subscriptions point: nothing listens there, and no dispatcher runs.
NOWHERE = "http://127.0.0.1:9/hooks/{}"


def _number(district: str, day: int, when: dt.date, serial: int) -> str:
    return f"{district.replace('.', '')}{day:02d}{when.month:02d}{when.year % 100:02d}{serial:04d}"


def family_body(n: int, villages: list[tuple[str, str]]) -> str:
    """Family number ``n``: a couple and a child in a village of Sleman, as JSON on one line.
    Its No KK and NIKs differ from those of every other ``n`` (the serial and the dates come
    from ``n``), and agree with the members' birth dates and sex."""
    village, district = villages[n % len(villages)]
    serial, days = n % 9999 + 1, n // 9999
    issued = dt.date(2015, 1, 1) + dt.timedelta(days=days)
    people = [
        ("KEPALA_KELUARGA", "Slamet Riyadi", False, dt.date(1975, 1, 1)),
        ("ISTRI", "Siti Aminah", True, dt.date(1978, 1, 1)),
        ("ANAK", "Budi Santoso", False, dt.date(2010, 1, 1)),
    ]
    members = []
    for relationship, name, female, first_birth in people:
        birth = first_birth + dt.timedelta(days=days)
        members.append(
            {
                "nik": _number(district, birth.day + (40 if female else 0), birth, serial),
                "name": name,
                "sex": "P" if female else "L",
                "birth_date": birth.isoformat(),
                "relationship": relationship,
            }
        )
    body = {
        "no_kk": _number(district, issued.day, issued, serial),
        "village_code": village,
        "address": "RT 03 RW 02",
        "desil": 1 + n % 4,
        "members": members,
        "programs": ["PKH"],
    }
    return json.dumps(body, separators=(",", ":"))


async def run(context: BenchContext) -> PairResult:
    count = context.options.webhook_subscriptions
    token = await context.token()
    villages = villages_of((REGENCY,))
    folder = context.options.out_dir / "kpm-write"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.txt"):
        stale.unlink()
    settings = context.options.wrk
    labels = (f"service, {count} subscriptions", "service, no subscription")
    url = context.service.url + "/api/v1/kpm"
    targets = [
        Target(
            label,
            url,
            f"Bearer {token}",
            method="POST",
            environment={"BENCH_BODY_TEMPLATE": "@VALUE@"},
        )
        for label in labels
    ]
    families = itertools.count(1)
    runs = itertools.count(1)
    active: list[Subscriptions] = []
    made_by: set[str] = set()
    # Deliveries the outbox queued during the runs of the subscribed side, counted before its
    # subscriptions (and with them their deliveries) are deleted.
    queued = [0]

    async def unsubscribe() -> None:
        while active:
            subscriptions = active.pop()
            queued[0] += await deliveries_of(context, subscriptions)
            await remove_subscriptions(context.database, subscriptions)

    async def prepare(target: Target, duration_s: int, previous: WrkResult | None) -> Target:
        if previous is not None:
            _check_values(target, previous)
        await unsubscribe()
        if target.label == labels[0]:
            urls = [NOWHERE.format(i) for i in range(count)]
            made = await create_subscriptions(
                context.database, context.service.url, token, context.client.client_id, urls
            )
            active.append(made)
            made_by.add(made.describe())
        rate = previous.requests_per_s if previous is not None else FIRST_GUESS_RPS
        needed = int(rate * duration_s * HEADROOM) + 4 * settings.connections + 200
        path = folder / f"{next(runs):02d}.txt"
        bodies = (family_body(next(families), villages) for _ in range(needed))
        path.write_text("".join(body + "\n" for body in bodies))
        return dataclasses.replace(
            target,
            environment={
                **target.environment,
                "BENCH_VALUES_FILE": str(path),
                "BENCH_KEY_PREFIX": uuid.uuid4().hex,
            },
        )

    try:
        sides = await compare_with_wrk(context, targets, prepare=prepare)
        for round_results in sides.rounds:
            for target, result in zip(targets, round_results, strict=True):
                _check_values(target, result)
    finally:
        await unsubscribe()
    subscribed_requests = sum(r[0].requests for r in sides.rounds)
    with_subscriptions, without = sides.service, sides.baseline
    way = "; ".join(sorted(made_by))
    notes = [
        f"every request registers another family of 3 in Sleman (its own No KK, NIKs and "
        f"Idempotency-Key); {count} subscriptions of the national bench client, every event "
        f"type, {way}, before each run of the first side and deleted before the other's",
        "no dispatcher runs (deliveries stay pending): the write path's cost alone, as "
        "production runs `dinsos worker` apart",
        f"the outbox queued {queued[0]:,} deliveries over the subscribed side's runs "
        f"(warm-up included; its timed rounds answered {subscribed_requests:,} writes)",
        rounds_note(targets, sides),
    ]
    if queued[0] == 0:
        notes.append(
            "NO DELIVERY WAS QUEUED: the outbox is not there yet, so the subscriptions cost "
            "nothing and the ratio measures nothing"
        )
    return PairResult(
        key="kpm-write",
        title=f"POST /api/v1/kpm with {count} webhook subscriptions vs none "
        f"(wrk -c{settings.connections})",
        tables=[throughput_table(targets, sides)],
        checks=[
            Check("p50 with/without", with_subscriptions.p50_ms / without.p50_ms, 1.2, False),
            Check("p99 with/without", with_subscriptions.p99_ms / without.p99_ms, 1.2, False),
        ],
        notes=notes,
    )


async def deliveries_of(context: BenchContext, subscriptions: Subscriptions) -> int:
    connection = await asyncpg.connect(context.database.dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE subscription_id = any($1::uuid[])",
            [item.id for item in subscriptions.items],
        )
        return count
    finally:
        await connection.close()


def _check_values(target: Target, result: WrkResult) -> None:
    exhausted = int(result.extra.get("values_exhausted", 0))
    if exhausted:
        raise RuntimeError(f"{target.label}: {exhausted} requests found no family left")


PAIR = Pair("kpm-write", "POST /api/v1/kpm with webhook subscriptions vs none", run, default=False)
