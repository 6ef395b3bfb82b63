"""What a pair reports (tables of figures, checks against targets, notes), how it is printed,
and how a run is recorded in ``bench/RESULTS.md`` with the machine it ran on."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("RESULTS.md")
KEEP_RUNS = 12
RUN_MARK = "\n## Run "


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Check:
    """``value`` against ``target``: at least (throughput, rates) or at most (latency, memory)."""

    label: str
    value: float
    target: float
    at_least: bool
    unit: str = "x"

    @property
    def passed(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def describe(self) -> str:
        sign = ">=" if self.at_least else "<="
        return (
            f"{self.label}: {_number(self.value)}{self.unit} "
            f"(target {sign} {_number(self.target)}{self.unit}) {self.verdict}"
        )


@dataclass
class PairResult:
    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt(value: float, unit: str = "") -> str:
    return _number(value) + unit


def render_text(table: Table) -> str:
    widths = [
        max(len(row[i]) for row in [table.headers, *table.rows]) for i in range(len(table.headers))
    ]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table.headers), rule, *(line(row) for row in table.rows)])


def render_markdown(table: Table) -> str:
    head = "| " + " | ".join(table.headers) + " |"
    align = "| --- |" + " ---: |" * (len(table.headers) - 1)
    body = ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join([head, align, *body])


def print_result(result: PairResult) -> None:
    print(f"\n== {result.key}: {result.title}")
    for table in result.tables:
        print(render_text(table))
        print()
    for check in result.checks:
        print("  " + check.describe())
    for note in result.notes:
        print("  note: " + note)


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    python: str
    postgres: str
    database: str

    def describe(self) -> str:
        return (
            f"{self.cpu}, {self.cores} cores; Python {self.python}; "
            f"PostgreSQL {self.postgres} ({self.database})"
        )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def this_machine(postgres: str, database: str) -> Machine:
    return Machine(cpu_model(), os.cpu_count() or 1, platform.python_version(), postgres, database)


def run_section(
    machine: Machine, settings: str, results: list[PairResult], when: dt.datetime
) -> str:
    lines = [
        f"## Run {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- machine: {machine.describe()}",
        f"- settings: {settings}",
        "",
    ]
    for result in results:
        lines += [f"### {result.key}: {result.title}", ""]
        for table in result.tables:
            lines += [render_markdown(table), ""]
        for check in result.checks:
            lines.append(f"- {check.describe()}")
        for note in result.notes:
            lines.append(f"- note: {note}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


HEADER = """# Benchmark results

Written by `make bench` (see `README.md` beside this file): newest run first, the last
{keep} runs kept. Only the ratios are comparable between runs; absolute figures depend on what
else the machine was doing.
"""


def record_run(section: str, path: Path = RESULTS_FILE) -> None:
    """Prepend ``section`` to the file, keeping the previous runs (and any text above them)."""
    previous: list[str] = []
    preamble = HEADER.format(keep=KEEP_RUNS)
    if path.exists():
        text = path.read_text()
        head, *runs = text.split(RUN_MARK)
        preamble = head.rstrip() + "\n"
        previous = [("## Run " + run).rstrip() + "\n" for run in runs]
    kept = [section, *previous][:KEEP_RUNS]
    path.write_text(preamble + "\n" + "\n".join(kept))
