"""The load generator: wrk (Debian's ``wrk`` package), driven by ``wrk_report.lua``, whose
``done()`` prints one ``BENCH_RESULT key=value ...`` line that :func:`parse_wrk_output` reads."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_report.lua")

INSTALL_HINT = (
    "wrk is not installed. On Debian/Ubuntu: `sudo apt-get update && sudo apt-get install -y wrk`;"
    " on macOS: `brew install wrk`. Then run `make bench` again."
)


class WrkMissing(RuntimeError):
    pass


class WrkFailed(RuntimeError):
    pass


def find_wrk(*, install: bool = True) -> str:
    """The wrk executable; when it is missing and we are root on Debian, apt-get installs it."""
    found = shutil.which("wrk")
    if found:
        return found
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is missing: installing it with `apt-get install -y wrk` ...", flush=True)
        install_command = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install_command, check=False).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], check=False)
            subprocess.run(install_command, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(INSTALL_HINT)


@dataclass(frozen=True)
class WrkSettings:
    threads: int = 2
    connections: int = 32
    duration_s: int = 10
    warmup_s: int = 3
    timeout_s: int = 10


@dataclass(frozen=True)
class Target:
    """One side of a pair: a URL and the request to send there."""

    label: str
    url: str
    authorization: str | None = None
    method: str = "GET"
    body_file: Path | None = None
    content_type: str = "application/json"
    # More settings for ``wrk_report.lua`` (a body per request, say): BENCH_* variables.
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    bytes_read: int
    errors: dict[str, int] = field(default_factory=dict)
    # The other figures of the BENCH_RESULT line (e.g. ``values_used`` of a body per request).
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


_RESULT_LINE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)
_RPS_LINE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_ERROR_KEYS = ("connect", "read", "write", "status", "timeout")
_KNOWN_KEYS = frozenset(
    {"requests", "duration_us", "bytes", "p50_us", "p90_us", "p99_us", "max_us", "mean_us"}
    | {f"errors_{key}" for key in _ERROR_KEYS}
)


def parse_wrk_output(output: str) -> WrkResult:
    """Requests/sec from wrk's own summary; percentiles and errors from the Lua ``done()`` line."""
    match = _RESULT_LINE.search(output)
    if match is None:
        raise WrkFailed(f"no BENCH_RESULT line in wrk's output:\n{output}")
    values: dict[str, float] = {}
    for item in match.group(1).split():
        key, _, value = item.partition("=")
        values[key] = float(value)
    duration_s = values["duration_us"] / 1e6
    rps_match = _RPS_LINE.search(output)
    requests_per_s = (
        float(rps_match.group(1))
        if rps_match
        else (values["requests"] / duration_s if duration_s else 0.0)
    )
    return WrkResult(
        requests=int(values["requests"]),
        duration_s=duration_s,
        requests_per_s=requests_per_s,
        p50_ms=values["p50_us"] / 1000,
        p90_ms=values["p90_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        max_ms=values["max_us"] / 1000,
        mean_ms=values["mean_us"] / 1000,
        bytes_read=int(values["bytes"]),
        errors={key: int(values.get(f"errors_{key}", 0)) for key in _ERROR_KEYS},
        extra={key: value for key, value in values.items() if key not in _KNOWN_KEYS},
    )


def wrk_command(executable: str, settings: WrkSettings, url: str, duration_s: int) -> list[str]:
    return [
        executable,
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{duration_s}s",
        f"--timeout={settings.timeout_s}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]


def _environment(target: Target, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["BENCH_AUTHORIZATION"] = target.authorization or ""
    env["BENCH_METHOD"] = target.method
    env["BENCH_BODY_FILE"] = str(target.body_file) if target.body_file else ""
    env["BENCH_CONTENT_TYPE"] = target.content_type
    env["BENCH_THREADS"] = str(threads)
    for name in ("BENCH_VALUES_FILE", "BENCH_BODY_TEMPLATE", "BENCH_KEY_PREFIX"):
        env.pop(name, None)
    env.update(target.environment)
    return env


def run_wrk_sync(
    executable: str, settings: WrkSettings, target: Target, *, duration_s: int
) -> WrkResult:
    command = wrk_command(executable, settings, target.url, duration_s)
    completed = subprocess.run(
        command,
        env=_environment(target, settings.threads),
        capture_output=True,
        text=True,
        timeout=duration_s + settings.timeout_s + 30,
        check=False,
    )
    if completed.returncode != 0:
        raise WrkFailed(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")
    return parse_wrk_output(completed.stdout)


async def run_wrk(
    executable: str, settings: WrkSettings, target: Target, *, duration_s: int | None = None
) -> WrkResult:
    return await asyncio.to_thread(
        run_wrk_sync,
        executable,
        settings,
        target,
        duration_s=settings.duration_s if duration_s is None else duration_s,
    )
