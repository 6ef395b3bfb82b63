"""`dinsos serve`, the README's run command, as a newcomer meets it: on an empty data folder it
starts the embedded server, migrates, prints a working demo client, and leaves no process behind
when stopped. With DATABASE_URL set it never creates a demo client."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

DINSOS = Path(sys.executable).parent / "dinsos"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _inherited_environment() -> dict[str, str]:
    # Whether the service uses the embedded server is decided by the test, not the shell.
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DINSOS_DATABASE_URL")}


def _start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(DINSOS), "serve", "--port", str(port)],
        env={**_inherited_environment(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(process: subprocess.Popen[str], port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the service did not become ready")


def _stop(process: subprocess.Popen[str], *, exit_codes: tuple[int, ...] = (0,)) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode in exit_codes, output
    return output


def _gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _demo_client(output: str) -> tuple[str, str]:
    found = re.search(r"client_id:\s+(\S+)\s+client_secret:\s+(\S+)", output)
    assert found is not None, output
    return found.group(1), found.group(2)


def test_serve_on_an_empty_folder_gives_a_working_demo_client(embedded_folder: Path) -> None:
    env = {"DINSOS_DATA_DIR": str(embedded_folder)}
    port = _free_port()
    process = _start(env, port)
    try:
        _wait_ready(process, port)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/docs").status_code == 200
        pid = int((embedded_folder / "pg" / "postmaster.pid").read_text().splitlines()[0])
    finally:
        output = _stop(process)
    client_id, secret = _demo_client(output)
    assert "Kota Pasuruan" in output  # the demo data was loaded on this first start
    assert _gone(pid), "the embedded PostgreSQL outlived the service"
    stored = json.loads((embedded_folder / "demo-client.json").read_text())
    assert stored == {"client_id": client_id, "client_secret": secret}
    assert (embedded_folder / "demo-client.json").stat().st_mode & 0o077 == 0

    # A second start reuses the data and the same demo client, which still works.
    process = _start(env, port)
    try:
        _wait_ready(process, port)
        token = httpx.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert token.status_code == 200
        region = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/regions/3328022001",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert region.json()["name"] == "Guci"
        # The first start loaded the demo data: Kota Pasuruan's verification, for one.
        funnel = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/reports/verification-funnel?region=35.75",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        eligible = next(row for row in funnel.json()["rows"] if row["step"] == "eligible")
        assert eligible["people"] == 891
        walk_through = _readme_walk_through(port, embedded_folder)
    finally:
        output = _stop(process)
    assert _demo_client(output) == (client_id, secret)
    # Every step of the README's walk-through answered what the README says it does.
    for expected in (
        '"name":"Guci"',  # 2. a region with its parents
        '"name":"Bumijawa"',  # 3. the districts of Kabupaten Tegal
        '"name":"Kota Pasuruan"',  # 3. the name search
        '"code":"PK3E_TEGAL"',  # 4. the program created
        '"name":"PK3E Tegal 2024"',  # 5. and changed with If-Match
        '{"data":{"region":{"name":"Kabupaten Tegal","parent":{"name":"Jawa Tengah"}}}}',  # 6.
        '"step":"eligible","families":297,"people":891',  # 7. the funnel
        "facilitator_id,name,kind,region_code",  # 7. the CSV report
        '"title":"Validasi gagal"',  # 8. an Indonesian problem (a malformed code)
    ):
        assert expected in walk_through, expected


def _readme_walk_through(port: int, data_dir: Path) -> str:
    """The README's curl walk-through, run as written but for the port and data folder."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Walk-through with curl", 1)[1]
    script = section.split("```sh\n", 1)[1].split("```", 1)[0]
    script = script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    script = script.replace(".data/demo-client.json", str(data_dir / "demo-client.json"))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_serve_on_a_configured_database_creates_no_demo_client(
    database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    process = _start({"DATABASE_URL": database_url, "DINSOS_DATA_DIR": str(tmp_path)}, port)
    try:
        _wait_ready(process, port)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        output = _stop(process)
    # Nothing tells a scanner which server (and version) answers.
    assert "server" not in health.headers
    assert health.headers["x-content-type-options"] == "nosniff"
    assert "client_secret" not in output
    assert "demo data" not in output
    assert not (tmp_path / "demo-client.json").exists()


def test_the_container_entry_point_logs_json_without_query_strings(
    database_url: str, tmp_path: Path
) -> None:
    # What the Dockerfile runs after migrating, minus its flags: even plain
    # `uvicorn api.main:app` must not print the paths uvicorn would log by default.
    port = _free_port()
    process = subprocess.Popen(
        [str(DINSOS.parent / "uvicorn"), "api.main:app", "--port", str(port)],
        env={**_inherited_environment(), "DATABASE_URL": database_url,
             "DINSOS_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        _wait_ready(process, port)
        searched = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/kpm?nik=3328021403850001",
            headers={"X-Request-ID": "container-check-1"},
        )
        assert searched.status_code == 401
    finally:
        # uvicorn drains, then re-raises SIGTERM (exit -15); `dinsos serve` exits 0.
        output = _stop(process, exit_codes=(0, -signal.SIGTERM))
    assert "3328021403850001" not in output
    access = [json.loads(line) for line in output.splitlines() if '"container-check-1"' in line]
    assert access, output
    assert access[-1]["route"] == "/api/v1/kpm"
    assert access[-1]["status"] == 401


def test_the_container_sends_no_server_header() -> None:
    dockerfile = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
    command = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert "exec uvicorn " in command
    assert "--no-server-header" in command
