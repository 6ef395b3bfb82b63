"""The typed per-request GraphQL context: the request's session, the caller, and DataLoaders
created fresh for each request (a loader outliving its request would leak data across callers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from service.access import Caller
from service.errors import Unauthorized
from service.regions.tables import Region


def _region_loader(session: AsyncSession) -> DataLoader[str, Region | None]:
    async def load(codes: list[str]) -> list[Region | None]:
        rows = await session.scalars(select(Region).where(col(Region.code).in_(codes)))
        by_code = {row.code: row for row in rows}
        return [by_code.get(code) for code in codes]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    region_by_code: DataLoader[str, Region | None]


@dataclass
class GraphQLContext(BaseContext):
    session: AsyncSession
    optional_caller: Caller | None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(region_by_code=_region_loader(self.session))

    @property
    def caller(self) -> Caller:
        if self.optional_caller is None:
            raise Unauthorized("Send a bearer token from POST /oauth/token.", code="unauthorized")
        return self.optional_caller

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """For mutations that run transactions of their own (the money moves)."""
        assert self.request is not None
        sessions: async_sessionmaker[AsyncSession] = self.request.app.state.sessions
        return sessions
