"""Plain asyncpg connections, for work that needs no SQLAlchemy.

A command whose service function is written on one (``dinsos clients list``) starts without
loading SQLAlchemy, which is half of a command's start-up. Nothing here may import SQLAlchemy."""

from __future__ import annotations

import asyncpg

# Every timestamp the service writes or compares is UTC; the engine's connections use these too.
SERVER_SETTINGS = {"timezone": "UTC", "application_name": "dinsos"}


def asyncpg_dsn(url: str) -> str:
    """The URL in the plain form that ``asyncpg.connect`` takes: the scheme (``postgres``,
    ``postgresql``, ``postgresql+asyncpg``...) becomes ``postgresql``, the rest stays as written."""
    _scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"Not a database URL: {url.split('@')[-1]!r}")
    return f"postgresql://{rest}"


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url), server_settings=SERVER_SETTINGS)
