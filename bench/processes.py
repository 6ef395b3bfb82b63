"""The two servers under test, each a ``uvicorn`` subprocess on its own port, and the memory
readings of their worker processes (Linux ``/proc``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's workers, or uvicorn itself with one."""
        children = _children(self.process.pid)
        return children or [self.process.pid]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    if not task_dir.exists():
        return found
    for task in task_dir.iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    # uvicorn's multiprocess supervisor spawns workers through multiprocessing: skip its
    # resource tracker, which serves no request.
    return [child for child in found if "resource_tracker" not in _cmdline(child)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_uvicorn(
    name: str, app: str, *, env: dict[str, str], workers: int, log_dir: Path
) -> Server:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        # The same settings on both sides: no access log, no reload, warnings only.
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Server(name, start_process(command, env=env, log_path=log_path), port, log_path)


def start_process(
    command: list[str], *, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """A process of the benchmark in a session of its own (so ``stop_process`` ends its whole
    group), its output in ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(server: Server, path: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + path, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout_s:.0f}s:\n{server.log_tail()}")


def stop(server: Server, timeout_s: float = 25.0) -> None:
    stop_process(server.process, timeout_s)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 25.0) -> None:
    """SIGTERM to the process's own group (started with a new session), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss(pids: list[int]) -> bool:
    """Reset the kernel's high-water mark of resident memory (``VmHWM``), so a later reading is
    the peak of what follows. Returns False where the kernel does not allow it."""
    done = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


def peak_rss_mib(pids: list[int]) -> float:
    """The largest ``VmHWM`` among ``pids`` (each worker serves its own requests)."""
    return max((_status_kib(pid, "VmHWM") for pid in pids), default=0) / 1024


def rss_mib(pids: list[int]) -> float:
    return max((_status_kib(pid, "VmRSS") for pid in pids), default=0) / 1024
