"""The typed per-request GraphQL context: the request's session (one transaction per root field,
see api/graphql/units_of_work.py), the caller, and DataLoaders created fresh for each request (a
loader outliving its request would leak data across callers), each batch reading in a session of
its own from ``read_sessions``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.graphql.loaders import lists_by_parent, values_by_key
from service.access import Caller
from service.disbursements import queries as disbursements
from service.disbursements.tables import DisbursementTransition
from service.errors import Unauthorized
from service.kpm import enrollment, verification
from service.kpm.tables import EnrollmentTransition, Verification
from service.kube import grants, reports, rules
from service.kube.tables import KubeGrantReport, KubeGrantTransition, KubeGroup, KubeMember
from service.regions.lookup import regions_by_code
from service.regions.tables import Region
from service.settings import Settings
from service.training import attendance, cohorts, participants
from service.training.tables import TrainingAttendance, TrainingSession
from service.training.views import ParticipantRecord

LearnPlan = Callable[
    [GraphQLSchema, OperationDefinitionNode, dict[str, FragmentDefinitionNode]], None
]


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
    # KPM
    family_verifications: DataLoader[uuid.UUID, list[Verification]]
    enrollment_history: DataLoader[uuid.UUID, list[EnrollmentTransition]]
    session_attendance: DataLoader[uuid.UUID, list[TrainingAttendance]]
    disbursement_transitions: DataLoader[uuid.UUID, list[DisbursementTransition]]


def _loaders(sessions: async_sessionmaker[AsyncSession]) -> Loaders:
    return Loaders(
        region_by_code=values_by_key(sessions, regions_by_code, None),
        kube_members=lists_by_parent(sessions, rules.members_of),
        kube_group=values_by_key(sessions, grants.groups_by_id, None),
        grant_transitions=lists_by_parent(sessions, grants.transitions_of),
        grant_reports=lists_by_parent(sessions, reports.reports_of),
        cohort_sessions=lists_by_parent(sessions, cohorts.sessions_of),
        cohort_participants=lists_by_parent(sessions, participants.participants_of),
        cohort_participant_count=values_by_key(sessions, cohorts.participant_counts, 0),
        # KPM
        family_verifications=lists_by_parent(sessions, verification.verifications_of),
        enrollment_history=lists_by_parent(sessions, enrollment.transitions_of),
        session_attendance=lists_by_parent(sessions, attendance.attendance_of),
        disbursement_transitions=lists_by_parent(sessions, disbursements.transitions_of),
    )


@dataclass
class GraphQLContext(BaseContext):
    # The request's session is opened on first use (many requests never use it: a read of one
    # statement, the money mutations) and closed by ``close`` before the response goes out.
    open_session: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    optional_caller: Caller | None
    # Over a WebSocket: the task that closes the connection when its token stops being valid
    # (api/graphql/subscriptions.py).
    connection_watcher: asyncio.Task[None] | None = field(default=None, init=False)
    # Set for a query text the prepared reads have no plan of yet, called with the document
    # once it reaches execution (api/graphql/prepared_reads.py).
    learn_plan: LearnPlan | None = field(default=None, init=False)
    _session: AsyncSession | None = field(default=None, init=False)
    _loaders: Loaders | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.open_session()
        return self._session

    @property
    def opened_session(self) -> AsyncSession | None:
        """The request's session if a resolver has used it (api/graphql/units_of_work.py
        commits it)."""
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def loaders(self) -> Loaders:
        """Made on first use: most requests need none of them."""
        if self._loaders is None:
            self._loaders = _loaders(self.read_sessions)
        return self._loaders

    def forget_loaded(self) -> None:
        """After a mutation: what the loaders cached may have changed."""
        self._loaders = None

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

    @property
    def settings(self) -> Settings:
        assert self.request is not None
        settings: Settings = self.request.app.state.settings
        return settings
