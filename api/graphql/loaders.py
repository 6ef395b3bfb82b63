"""DataLoaders for the nested fields: regions by code, and the nested lists of KUBE groups,
grants and training cohorts. Each batches the keys of one tick into one service call (one
``IN (...)`` query), so a page of 50 groups costs one query for all their members, not 50.
Each batch reads in a short session of its own (see api/graphql/units_of_work.py). Built per
request by the context, never shared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[K]], Awaitable[Mapping[K, V]]]


async def _fetch_in_own_session(
    sessions: async_sessionmaker[AsyncSession], fetch: Fetch[K, V], keys: Sequence[K]
) -> Mapping[K, V]:
    # Reads only: closing the session ends its transaction, nothing to commit.
    async with sessions() as session:
        return await fetch(session, keys)


def lists_by_parent(
    sessions: async_sessionmaker[AsyncSession], fetch: Fetch[K, list[T]]
) -> DataLoader[K, list[T]]:
    """Children by parent id (members of groups, sessions of cohorts, ...); none: ``[]``."""

    async def load(keys: list[K]) -> list[list[T]]:
        found = await _fetch_in_own_session(sessions, fetch, keys)
        return [list(found.get(key, [])) for key in keys]

    return DataLoader(load_fn=load)


def values_by_key(
    sessions: async_sessionmaker[AsyncSession], fetch: Fetch[K, V], missing: V
) -> DataLoader[K, V]:
    """One value per key (a region by code, a grant's group, a cohort's head count);
    ``missing`` when absent."""

    async def load(keys: list[K]) -> list[V]:
        found = await _fetch_in_own_session(sessions, fetch, keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(load_fn=load)
