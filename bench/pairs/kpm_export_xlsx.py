"""Pair k: the families' export as a spreadsheet (``GET /api/v1/kpm/export?format=xlsx``,
XlsxWriter in constant-memory mode) against the same export as CSV, both from the service, one
after the other on the same rows. The targets (issue 12): the XLSX within 3x of the CSV's time,
and the service worker's peak resident memory during it at most 300 MB (for 100,000 families:
``--families 100000``; a plain run uses a roll of ``DEFAULT_FAMILIES``)."""

from __future__ import annotations

from bench.context import BenchContext
from bench.database import checkpoint, empty_registry
from bench.pairs import Pair
from bench.pairs.kpm_export import Exported, service_export
from bench.results import Check, PairResult, Table, fmt
from bench.roll import cached_roll, import_roll

DEFAULT_FAMILIES = 10_000
PEAK_RSS_TARGET_MIB = 300


def families_of(context: BenchContext) -> int:
    """``--families`` when it was given; else a roll small enough for a plain ``make bench``."""
    return context.options.export_families or DEFAULT_FAMILIES


async def ensure_roll(context: BenchContext, families: int) -> None:
    """The rows the import pair left when it imported as many families; else a roll of its own,
    loaded through the service's importer (untimed)."""
    loaded = context.state.get("large_roll")
    if loaded is not None and context.options.families == families:
        return
    if context.state.get("xlsx_roll") == families:
        return
    roll = cached_roll(
        context.options.out_dir / f"roll-{families}", families, generator=context.options.generator
    )
    await empty_registry(context.database)
    context.state.pop("large_roll", None)
    print(f"  loading {roll.people} people of {families} families for the export ...", flush=True)
    await import_roll(context.database, roll.path)
    context.state["xlsx_roll"] = families


def _row(side: str, exported: Exported) -> list[str]:
    return [
        side,
        f"{exported.rows:,}",
        fmt(exported.size / 2**20),
        fmt(exported.seconds),
        fmt(exported.rows / exported.seconds),
        "-" if exported.peak_rss_mib is None else fmt(exported.peak_rss_mib),
    ]


async def run(context: BenchContext) -> PairResult:
    families = families_of(context)
    await ensure_roll(context, families)
    out = context.options.out_dir
    await checkpoint(context.database)
    csv_side = await service_export(context, out / "export-service.csv")
    print(f"  CSV: {csv_side.rows} rows in {csv_side.seconds:.1f}s", flush=True)
    xlsx_side = await service_export(
        context, out / "export-service.xlsx", "xlsx", rows=csv_side.rows
    )
    print(f"  XLSX: {xlsx_side.rows} rows in {xlsx_side.seconds:.1f}s", flush=True)
    ratio = xlsx_side.seconds / csv_side.seconds
    table = Table(
        ["side", "rows", "MiB", "seconds", "rows/s", "peak RSS MiB"],
        [
            _row("service XLSX (format=xlsx)", xlsx_side),
            _row("service CSV (format=csv)", csv_side),
            ["ratio XLSX / CSV time", "", "", fmt(ratio, "x"), "", ""],
        ],
    )
    checks = [Check("XLSX time / CSV time", ratio, 3.0, False)]
    notes = [
        f"{families:,} families; both files streamed over HTTP to bench/out; the rows of the "
        "XLSX are those of the CSV (the same query, one after the other)",
    ]
    if xlsx_side.peak_rss_mib is None:
        notes.append("peak RSS not measured: the kernel refused to reset VmHWM")
    else:
        label = f"XLSX worker peak RSS ({families:,} families; target for 100,000)"
        checks.append(Check(label, xlsx_side.peak_rss_mib, PEAK_RSS_TARGET_MIB, False, " MiB"))
    return PairResult(
        key="xlsx",
        title=f"XLSX export of {csv_side.rows:,} people vs the CSV export",
        tables=[table],
        checks=checks,
        notes=notes,
    )


PAIR = Pair("xlsx", "families' export as XLSX vs as CSV, and the worker's peak memory", run)
