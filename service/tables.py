"""Imports every table module so ``metadata`` is complete (for Alembic and the test schema)."""

from service.allocations.tables import Allocation
from service.audit.tables import AuditEntry
from service.auth.tables import ApiClient
from service.changes.tables import ChangeEvent, ChangeFeedHorizon
from service.dci.subscription_tables import DciSubscription
from service.dci.tables import DciTransaction, SenderKey
from service.disbursements.tables import Disbursement, DisbursementTransition
from service.idempotency.tables import IdempotencyKey
from service.kpm.tables import (
    Enrollment,
    EnrollmentTransition,
    Facilitator,
    Family,
    ImportJob,
    ImportRefusal,
    Member,
    Verification,
)
from service.kube.tables import (
    KubeGrant,
    KubeGrantReport,
    KubeGrantTransition,
    KubeGroup,
    KubeMember,
)
from service.programs.tables import Program
from service.rate_limit_counts.tables import RateLimitCount
from service.records import metadata
from service.regions.tables import Region
from service.training.tables import (
    TrainingAttendance,
    TrainingCohort,
    TrainingParticipant,
    TrainingSession,
)
from service.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "Allocation",
    "ApiClient",
    "AuditEntry",
    "ChangeEvent",
    "ChangeFeedHorizon",
    "DciSubscription",
    "DciTransaction",
    "Disbursement",
    "DisbursementTransition",
    "Enrollment",
    "EnrollmentTransition",
    "Facilitator",
    "Family",
    "IdempotencyKey",
    "ImportJob",
    "ImportRefusal",
    "Member",
    "Program",
    "RateLimitCount",
    "Region",
    "SenderKey",
    "Verification",
    "metadata",
    "KubeGroup",
    "KubeMember",
    "KubeGrant",
    "KubeGrantTransition",
    "KubeGrantReport",
    "TrainingCohort",
    "TrainingSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "TrainingParticipant",
    "TrainingAttendance",
]
