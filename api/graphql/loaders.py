"""DataLoaders for the nested lists of KUBE groups, grants and training cohorts. Each batches the
keys of one tick into one service call (one ``IN (...)`` query), so a page of 50 groups costs one
query for all their members, not 50. Built per request by the context, never shared."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

T = TypeVar("T")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[Mapping[uuid.UUID, V]]]


def lists_by_parent(
    session: AsyncSession, turn: asyncio.Lock, fetch: Fetch[list[T]]
) -> DataLoader[uuid.UUID, list[T]]:
    """Children by parent id (members of groups, sessions of cohorts, ...); none: ``[]``."""

    async def load(keys: list[uuid.UUID]) -> list[list[T]]:
        async with turn:  # see api/graphql/serial_access.py
            found = await fetch(session, keys)
        return [list(found.get(key, [])) for key in keys]

    return DataLoader(load_fn=load)


def values_by_id(
    session: AsyncSession, turn: asyncio.Lock, fetch: Fetch[V], missing: V
) -> DataLoader[uuid.UUID, V]:
    """One value per id (a grant's group, a cohort's head count); ``missing`` when absent."""

    async def load(keys: list[uuid.UUID]) -> list[V]:
        async with turn:
            found = await fetch(session, keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(load_fn=load)
