"""``python -m bench.run`` (``make bench``): the service and a bare baseline side by side on one
fresh database, loaded with wrk; prints a table per pair and records the run in RESULTS.md.

    python -m bench.run                      # pairs a-c: regions, kpm, list
    python -m bench.run --only regions,kpm   # some pairs
    python -m bench.run --only import,export --families 20000   # the bulk pairs, smaller roll
    python -m bench.run --all                # everything, the import of ~1M people included
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from bench.context import BenchContext, Options, service_environment
from bench.database import (
    BenchDatabase,
    close_database,
    create_bench_client,
    open_database,
    prepare,
    server_version,
)
from bench.pairs import Pair, all_pairs
from bench.pairs.kpm_export_xlsx import DEFAULT_FAMILIES as XLSX_FAMILIES
from bench.processes import Server, start_uvicorn, stop, wait_until_ready
from bench.results import PairResult, print_result, record_run, run_section, this_machine
from bench.roll import GENERATOR, import_roll, write_roll
from bench.wrk import WrkMissing, WrkSettings, find_wrk

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Side-by-side benchmarks of the service against a bare baseline.",
    )
    parser.add_argument(
        "--only",
        help="comma-separated pairs to run (see --list); default: the quick pairs",
    )
    parser.add_argument("--all", action="store_true", help="run every pair, the slow ones too")
    parser.add_argument("--list", action="store_true", help="list the pairs and exit")
    parser.add_argument("--rounds", type=_positive, default=2, help="wrk rounds per side")
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk warm-up per side")
    parser.add_argument("--threads", type=_positive, default=2, help="wrk threads")
    parser.add_argument("--connections", type=_positive, default=32, help="wrk connections")
    parser.add_argument(
        "--list-connections",
        type=_positive,
        default=4,
        help="wrk connections for the 500-family list pair",
    )
    parser.add_argument(
        "--workers", type=_positive, default=1, help="uvicorn workers, for both sides"
    )
    parser.add_argument(
        "--seed-families",
        type=_positive,
        default=1000,
        help="families seeded for the read pairs (at least 500 for the list pair)",
    )
    parser.add_argument(
        "--families",
        type=_positive,
        default=None,
        help="families in the roll of the import and export pairs (280,000: about 1M people; "
        "the xlsx pair's own default is 10,000)",
    )
    parser.add_argument(
        "--feed-events",
        type=_positive,
        default=1_000_000,
        help="change events seeded for the feed pair (1,000,000; 100,000 for a quick look)",
    )
    parser.add_argument(
        "--webhook-events",
        type=_positive,
        default=10_000,
        help="events fanned out to every subscription by the webhooks pair",
    )
    parser.add_argument(
        "--webhook-subscriptions",
        type=_positive,
        default=10,
        help="subscriptions of the webhooks and kpm-write pairs",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        help="PostgreSQL server to create the benchmark database on "
        "(default: $BENCH_DATABASE_URL, $DATABASE_URL, else an embedded server in a temp folder)",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the database at the end"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only; leave bench/RESULTS.md alone"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument(
        "--generator",
        type=Path,
        default=GENERATOR,
        help="roll generator for the bulk pairs (default: bench/gen_kpm.py)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="scratch folder (rolls, logs, exports)"
    )
    return parser


def select_pairs(pairs: dict[str, Pair], only: str | None, everything: bool = False) -> list[Pair]:
    if everything:
        return list(pairs.values())
    if not only:
        return [pair for pair in pairs.values() if pair.default]
    wanted = [key.strip() for key in only.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in pairs]
    if unknown:
        raise SystemExit(f"unknown pair(s): {', '.join(unknown)}; known: {', '.join(pairs)}")
    return [pair for key, pair in pairs.items() if key in wanted]


def parse_options(argv: Sequence[str] | None = None) -> tuple[Options, argparse.Namespace]:
    args = build_parser().parse_args(argv)
    if args.seed_families < 500:
        raise SystemExit("--seed-families must be at least 500 (the list pair reads 500)")
    options = Options(
        only=[pair.key for pair in select_pairs(all_pairs(), args.only, args.all)],
        rounds=args.rounds,
        wrk=WrkSettings(
            threads=args.threads,
            connections=args.connections,
            duration_s=args.duration,
            warmup_s=args.warmup,
        ),
        list_connections=args.list_connections,
        workers=args.workers,
        seed_families=args.seed_families,
        families=args.families or 280_000,
        export_families=args.families,
        database_url=args.database_url,
        keep_database=args.keep_database,
        record=not args.no_record,
        generator=args.generator,
        out_dir=args.out.resolve(),
        feed_events=args.feed_events,
        webhook_events=args.webhook_events,
        webhook_subscriptions=args.webhook_subscriptions,
    )
    return options, args


def settings_text(options: Options) -> str:
    w = options.wrk
    text = (
        f"wrk -t{w.threads} -c{w.connections} -d{w.duration_s}s (warm-up {w.warmup_s}s, "
        f"best of {options.rounds} rounds per side; list pair -c{options.list_connections}); "
        f"uvicorn --workers {options.workers} on both sides; "
        f"{options.seed_families} seeded families"
    )
    if {"import", "export"} & set(options.only):
        text += f"; bulk roll of {options.families} families"
    if "xlsx" in options.only:
        text += f"; xlsx roll of {options.export_families or XLSX_FAMILIES} families"
    if "feed" in options.only:
        text += f"; {options.feed_events} feed events"
    if {"webhooks", "kpm-write"} & set(options.only):
        text += f"; {options.webhook_subscriptions} webhook subscriptions"
    if "webhooks" in options.only:
        text += f", {options.webhook_events} events fanned out"
    return text


async def pick_family(database: BenchDatabase) -> uuid.UUID:
    """A seeded family with several members and at least one enrollment."""
    connection = await asyncpg.connect(database.dsn)
    try:
        family_id = await connection.fetchval(
            "SELECT f.id FROM kpm_family f JOIN kpm_member m ON m.family_id = f.id"
            " WHERE EXISTS (SELECT 1 FROM kpm_enrollment e WHERE e.family_id = f.id)"
            " GROUP BY f.id HAVING count(*) >= 4 ORDER BY f.id LIMIT 1"
        )
    finally:
        await connection.close()
    if family_id is None:
        raise RuntimeError("no seeded family with four members")
    assert isinstance(family_id, uuid.UUID)
    return family_id


def start_servers(database: BenchDatabase, options: Options) -> tuple[Server, Server]:
    logs = options.out_dir / "logs"
    service = start_uvicorn(
        "service",
        "api.main:app",
        env=service_environment(database, options),
        workers=options.workers,
        log_dir=logs,
    )
    baseline = start_uvicorn(
        "baseline",
        "bench.baseline:app",
        env={"DATABASE_URL": database.dsn},
        workers=options.workers,
        log_dir=logs,
    )
    try:
        wait_until_ready(service, "/readyz")
        wait_until_ready(baseline, "/healthz")
    except BaseException:
        stop(service)
        stop(baseline)
        raise
    return service, baseline


async def run(options: Options) -> list[PairResult]:
    pairs = [all_pairs()[key] for key in options.only]
    wrk = find_wrk()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"pairs: {', '.join(pair.key for pair in pairs)}", flush=True)
    database = await open_database(options.database_url, keep=options.keep_database)
    results: list[PairResult] = []
    try:
        print(f"database {database.name} on {database.where}: migrating ...", flush=True)
        await prepare(database)
        client = await create_bench_client(database, name="bench (national)")
        roll = write_roll(options.out_dir / "seed" / "kpm.csv", options.seed_families)
        seeded = await import_roll(database, roll.path)
        print(f"seeded {seeded.families_created} families, {seeded.people_imported} people")
        family_id = await pick_family(database)
        postgres = await server_version(database)
        service, baseline = start_servers(database, options)
        print(f"service on {service.url}, baseline on {baseline.url}", flush=True)
        try:
            context = BenchContext(options, database, service, baseline, client, wrk, family_id)
            for pair in pairs:
                print(f"\nrunning {pair.key}: {pair.title} ...", flush=True)
                result = await pair.run(context)
                print_result(result)
                results.append(result)
        finally:
            stop(service)
            stop(baseline)
        machine = this_machine(postgres, database.where)
        print(f"\nmachine: {machine.describe()}")
        if options.record and results:
            when = dt.datetime.now(dt.UTC)
            record_run(run_section(machine, settings_text(options), results, when))
            print("recorded in bench/RESULTS.md")
    finally:
        await close_database(database)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    options, args = parse_options(args_list)
    if args.list:
        for key, pair in all_pairs().items():
            print(f"{key:10} {'' if pair.default else '(slow) '}{pair.title}")
        return 0
    try:
        results = asyncio.run(run(options))
    except WrkMissing as missing:
        print(missing, file=sys.stderr)
        return 2
    missed = [check for result in results for check in result.checks if not check.passed]
    print(
        f"\n{sum(len(r.checks) for r in results) - len(missed)} targets met, {len(missed)} missed"
    )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
