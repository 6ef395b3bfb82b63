"""The plain asyncpg URL: only the scheme changes, whatever driver the configured URL names."""

from __future__ import annotations

import pytest

from service.connections import asyncpg_dsn


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgresql+asyncpg://app:p%40ss@db:5433/dinsos", "postgresql://app:p%40ss@db:5433/dinsos"),
        ("postgres://app@db/dinsos?sslmode=require", "postgresql://app@db/dinsos?sslmode=require"),
        # The embedded server's URL: a Unix socket in the data folder.
        ("postgresql://postgres:@/postgres?host=/srv/data/pg", "postgresql://postgres:@/postgres?host=/srv/data/pg"),
    ],
)  # fmt: skip
def test_asyncpg_dsn_rewrites_only_the_scheme(url: str, dsn: str) -> None:
    assert asyncpg_dsn(url) == dsn


def test_asyncpg_dsn_refuses_what_is_not_a_url() -> None:
    with pytest.raises(ValueError, match="Not a database URL"):
        asyncpg_dsn("dinsos-db:5432")
