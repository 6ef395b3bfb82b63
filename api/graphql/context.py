"""The typed per-request GraphQL context: the request's session, the caller, and DataLoaders
created fresh for each request (a loader outliving its request would leak data across callers)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.graphql.loaders import lists_by_parent, values_by_id
from service.access import Caller
from service.errors import Unauthorized
from service.kube import grants, reports, rules
from service.kube.tables import KubeGrantReport, KubeGrantTransition, KubeGroup, KubeMember
from service.regions.lookup import regions_by_code
from service.regions.tables import Region
from service.training import cohorts, participants
from service.training.tables import TrainingSession
from service.training.views import ParticipantRecord


def _region_loader(session: AsyncSession, turn: asyncio.Lock) -> DataLoader[str, Region | None]:
    async def load(codes: list[str]) -> list[Region | None]:
        async with turn:
            by_code = await regions_by_code(session, codes)
        return [by_code.get(code) for code in codes]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    region_by_code: DataLoader[str, Region | None]
    kube_members: DataLoader[uuid.UUID, list[KubeMember]]
    kube_group: DataLoader[uuid.UUID, KubeGroup | None]
    grant_transitions: DataLoader[uuid.UUID, list[KubeGrantTransition]]
    grant_reports: DataLoader[uuid.UUID, list[KubeGrantReport]]
    cohort_sessions: DataLoader[uuid.UUID, list[TrainingSession]]
    cohort_participants: DataLoader[uuid.UUID, list[ParticipantRecord]]
    cohort_participant_count: DataLoader[uuid.UUID, int]


def _loaders(session: AsyncSession, turn: asyncio.Lock) -> Loaders:
    return Loaders(
        region_by_code=_region_loader(session, turn),
        kube_members=lists_by_parent(session, turn, rules.members_of),
        kube_group=values_by_id(session, turn, grants.groups_by_id, None),
        grant_transitions=lists_by_parent(session, turn, grants.transitions_of),
        grant_reports=lists_by_parent(session, turn, reports.reports_of),
        cohort_sessions=lists_by_parent(session, turn, cohorts.sessions_of),
        cohort_participants=lists_by_parent(session, turn, participants.participants_of),
        cohort_participant_count=values_by_id(session, turn, cohorts.participant_counts, 0),
    )


@dataclass
class GraphQLContext(BaseContext):
    session: AsyncSession
    optional_caller: Caller | None
    loaders: Loaders = field(init=False)
    # Taken by root fields and loader batches: the session serves one of them at a time.
    database_turn: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = _loaders(self.session, self.database_turn)

    def forget_loaded(self) -> None:
        """After a mutation: what the loaders cached may have changed (mutations run one after
        another, so fresh loaders see each one's writes)."""
        self.loaders = _loaders(self.session, self.database_turn)

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
