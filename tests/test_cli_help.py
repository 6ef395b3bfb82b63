"""`dinsos --help` answers at once: the command line imports nothing heavy until a command runs."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from cli.main import app

HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "strawberry", "alembic", "asyncpg", "api.app")


def test_the_command_line_starts_without_the_database_or_the_api() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cli.main; print(' '.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert [name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY] == []


def test_help_names_flags_without_type_labels() -> None:
    result = CliRunner().invoke(app, ["clients", "create", "--help"])
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert "--name NAME" in result.output
