"""`dinsos import kpm FILE`: the operator's import, with its progress bar and summary."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from service.settings import get_settings
from tests.conftest import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "tests" / "data" / "kpm-2000" / "kpm.csv"


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_import_reports_counts_and_is_idempotent(cli_env: None, tmp_path: Path) -> None:
    # A slice of the sample roll in a district no other test uses (Mukomuko, 17.06).
    rows = [
        r
        for r in csv.DictReader(io.StringIO(SAMPLE.read_text()))
        if r["village_code"].startswith("17.06.")
    ][:60]
    path = tmp_path / "mukomuko.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    families = len({row["no_kk"] for row in rows})

    first = CliRunner().invoke(app, ["import", "kpm", str(path)])
    assert first.exit_code == 0, first.output
    summary = re.search(
        r"(\d+) families read; (\d+) created, (\d+) updated, (\d+) unchanged", first.output
    )
    assert summary is not None, first.output
    read, created, _, _ = (int(n) for n in summary.groups())
    assert read == families
    assert created > 0

    second = CliRunner().invoke(app, ["import", "kpm", str(path)])
    assert f"0 created, 0 updated, {created} unchanged" in second.output


def test_unreadable_file_is_refused(cli_env: None, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("kolom_a,kolom_b\n1,2\n")
    result = CliRunner().invoke(app, ["import", "kpm", str(path)])
    assert result.exit_code == 1
    assert "lacks the columns" in result.output
