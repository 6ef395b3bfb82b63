"""Alembic, driven from code: upgrade to head, and tell whether a database is at head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # ConfigParser interpolation would eat a '%' in a password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    # The service has configured logging already; Alembic's ini must not replace it.
    config.attributes["skip_logging_setup"] = True
    return config


def upgrade_to_head(database_url: str) -> None:
    """Blocking (Alembic's env runs its own event loop): call it from a thread in async code."""
    command.upgrade(alembic_config(database_url), "head")


def head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return set(script.get_heads())
