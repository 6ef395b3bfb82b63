"""The benchmark harness's own plumbing (no benchmark runs here, no timing asserted): argument
parsing, the wrk output parser on a captured sample, and the results file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.results import Check, Machine, PairResult, Table, record_run, render_text, run_section
from bench.run import parse_options
from bench.wrk import WrkFailed, parse_wrk_output

# Captured from `wrk -t1 -c2 -d1s --latency -s bench/wrk_report.lua URL`.
WRK_SAMPLE = """\
Running 1s test @ http://127.0.0.1:18765/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.42ms  539.64us   5.91ms   74.64%
    Req/Sec     1.32k   114.40     1.50k    63.64%
  Latency Distribution
     50%    1.38ms
     75%    1.70ms
     90%    2.04ms
     99%    3.24ms
  1450 requests in 1.10s, 2.27MB read
Requests/sec:   1318.14
Transfer/sec:      2.07MB
BENCH_RESULT requests=1450 duration_us=1100032 bytes=2382506 p50_us=1382 p90_us=2040 \
p99_us=3243 max_us=5910 mean_us=1425 errors_connect=0 errors_read=0 errors_write=0 \
errors_status=3 errors_timeout=0
"""


def test_wrk_output_is_parsed() -> None:
    result = parse_wrk_output(WRK_SAMPLE)
    assert result.requests == 1450
    assert result.requests_per_s == pytest.approx(1318.14)
    assert result.p50_ms == pytest.approx(1.382)
    assert result.p99_ms == pytest.approx(3.243)
    assert result.duration_s == pytest.approx(1.100032)
    assert result.errors["status"] == 3
    assert result.error_count == 3


def test_wrk_output_without_the_lua_line_is_an_error() -> None:
    with pytest.raises(WrkFailed):
        parse_wrk_output(WRK_SAMPLE.split("BENCH_RESULT")[0])


def test_default_pairs_are_the_quick_ones() -> None:
    options, _ = parse_options([])
    assert options.only == ["regions", "kpm", "list"]
    assert options.wrk.connections == 32
    assert options.families == 280_000


def test_pairs_and_sizes_are_chosen_on_the_command_line() -> None:
    options, _ = parse_options(
        ["--only", "export,regions", "--families", "2000", "--duration", "5", "--rounds", "3"]
    )
    assert options.only == ["regions", "export"]  # in the harness's order
    assert (options.families, options.wrk.duration_s, options.rounds) == (2000, 5, 3)
    everything, _ = parse_options(["--all"])
    assert everything.only == ["regions", "kpm", "list", "import", "export"]


@pytest.mark.parametrize(
    "argv", [["--only", "nonsense"], ["--seed-families", "100"], ["--rounds", "0"]]
)
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options(argv)


def test_checks_and_tables() -> None:
    assert Check("throughput", 0.6, 0.5, at_least=True).verdict == "PASS"
    assert Check("p99", 3.5, 3.0, at_least=False).verdict == "MISS"
    text = render_text(Table(["side", "req/s"], [["service", "1,000"], ["baseline", "2,000"]]))
    assert text.splitlines()[2].startswith("service ")


def test_results_file_keeps_earlier_runs(tmp_path: Path) -> None:
    machine = Machine("CPU", 2, "3.11", "16", "embedded")
    result = PairResult("regions", "a pair", checks=[Check("x", 1.0, 0.5, at_least=True)])
    path = tmp_path / "RESULTS.md"
    for day in (1, 2):
        when = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
        record_run(run_section(machine, "settings", [result], when), path)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert text.index("## Run 2026-01-02") < text.index("## Run 2026-01-01")
    assert text.count("### regions: a pair") == 2
