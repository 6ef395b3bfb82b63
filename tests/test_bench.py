"""The benchmark harness's own plumbing (no benchmark runs here, no timing asserted): argument
parsing, the wrk output parser on a captured sample, and the results file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bench.pairs.disbursement_batch import batch_body, rows
from bench.pairs.disbursement_payments import body_template
from bench.pairs.kpm_write import family_body
from bench.receiver import app as receiver_app
from bench.results import Check, Machine, PairResult, Table, record_run, render_text, run_section
from bench.roll import villages_of
from bench.run import parse_options
from bench.subscriptions import sign
from bench.wrk import Target, WrkFailed, WrkSettings, parse_wrk_output, run_wrk_sync
from service.kpm.identity import nik_disagrees, nik_problem, no_kk_problem

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


def test_extra_figures_of_the_lua_line_are_kept() -> None:
    sample = WRK_SAMPLE.replace("errors_timeout=0", "errors_timeout=0 values_used=1451")
    result = parse_wrk_output(sample)
    assert result.extra == {"values_used": 1451}
    assert parse_wrk_output(WRK_SAMPLE).extra == {}


def test_default_pairs_are_the_quick_ones() -> None:
    options, _ = parse_options([])
    assert options.only == ["regions", "kpm", "graphql-family", "list", "batch", "payments", "xlsx"]
    assert options.wrk.connections == 32
    assert options.families == 280_000
    assert options.export_families is None  # the xlsx pair's own, smaller roll


def test_pairs_and_sizes_are_chosen_on_the_command_line() -> None:
    options, _ = parse_options(
        ["--only", "export,regions", "--families", "2000", "--duration", "5", "--rounds", "3"]
    )
    assert options.only == ["regions", "export"]  # in the harness's order
    assert (options.families, options.wrk.duration_s, options.rounds) == (2000, 5, 3)
    assert options.export_families == 2000
    everything, _ = parse_options(["--all"])
    assert everything.only == [
        "regions",
        "kpm",
        "graphql-family",
        "list",
        "batch",
        "payments",
        "import",
        "export",
        "xlsx",
        "feed",
        "kpm-write",
        "webhooks",
        "dci-search",
    ]


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


def test_the_batch_body_pays_the_rows_families() -> None:
    allocation, families = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    items = json.loads(batch_body(allocation, families))["items"]
    assert [item["recipient_id"] for item in items] == [
        str(row[4]) for row in rows(allocation, families)
    ]
    assert {item["allocation_id"] for item in items} == {str(allocation)}


def test_bench_options_of_the_webhook_and_feed_pairs() -> None:
    options, _ = parse_options(
        ["--only", "feed,webhooks", "--feed-events", "100000", "--webhook-events", "500"]
    )
    assert options.only == ["feed", "webhooks"]
    assert (options.feed_events, options.webhook_events) == (100_000, 500)
    assert options.webhook_subscriptions == 10


def test_written_families_are_valid_and_never_repeat_a_number() -> None:
    villages = villages_of(("34.04",))
    # Past 9,999 families the serials wrap and the dates move on.
    bodies = [json.loads(family_body(n, villages)) for n in range(1, 30_000, 7)]
    numbers = [body["no_kk"] for body in bodies]
    numbers += [member["nik"] for body in bodies for member in body["members"]]
    assert len(set(numbers)) == len(numbers)
    assert not [body["no_kk"] for body in bodies if no_kk_problem(body["no_kk"])]
    for body in bodies:
        for member in body["members"]:
            assert nik_problem(member["nik"]) is None
            birth = dt.date.fromisoformat(member["birth_date"])
            assert not nik_disagrees(member["nik"], sex=member["sex"], birth_date=birth)


def test_signature_is_standard_webhooks() -> None:
    # The example of the Standard Webhooks specification.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_the_receiver_counts_posts_and_unsigned_ones() -> None:
    transport = httpx.ASGITransport(app=receiver_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        before = (await http.get("/count")).json()
        signed = {"webhook-signature": "v1,x"}
        assert (await http.post("/hooks/1", content=b"{}", headers=signed)).status_code == 204
        assert (await http.post("/hooks/2", content=b"{}")).status_code == 204
        after = (await http.get("/count")).json()
    assert after["received"] - before["received"] == 2
    assert after["unsigned"] - before["unsigned"] == 1


def _recording_handler(seen: list[tuple[str, str]]) -> type[BaseHTTPRequestHandler]:
    """Answers 201 to every POST and keeps its Idempotency-Key and body."""
    lock = threading.Lock()

    class Recorder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                seen.append((self.headers["Idempotency-Key"], body.decode()))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # wrk hangs up when it stops
                super().handle()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Recorder


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_sends_each_value_once_with_a_key_of_its_own(tmp_path: Path) -> None:
    values = tmp_path / "values.txt"
    values.write_text("".join(f"{uuid.uuid4()}\n" for _ in range(50_000)))
    seen: list[tuple[str, str]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _recording_handler(seen))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    allocation = uuid.uuid4()
    target = Target(
        "recorder",
        f"http://127.0.0.1:{server.server_address[1]}/pay",
        method="POST",
        environment={
            "BENCH_BODY_TEMPLATE": body_template(allocation),
            "BENCH_VALUES_FILE": str(values),
            "BENCH_KEY_PREFIX": "run1",
        },
    )
    try:
        result = run_wrk_sync(
            str(shutil.which("wrk")), WrkSettings(threads=2, connections=4), target, duration_s=1
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    assert result.error_count == 0
    assert result.extra["values_exhausted"] == 0
    # Each connection may have one request on the way when wrk stops.
    assert len(seen) <= result.extra["values_sent"] <= len(seen) + 4
    assert result.extra["values_sent"] <= result.extra["values_used"] <= 50_000
    bodies = [json.loads(body) for _, body in seen]
    assert {body["allocation_id"] for body in bodies} == {str(allocation)}
    recipients = [body["recipient_id"] for body in bodies]
    assert len(set(recipients)) == len(recipients)
    assert set(recipients) <= set(values.read_text().split())
    keys = [key for key, _ in seen]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("run1-") for key in keys)
