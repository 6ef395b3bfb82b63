"""Webhook subscriptions and their delivery log on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import RecordOut

EVENT_TYPES_DESCRIPTION = (
    "The record types to be told about, as the change feed names them (`kpm`, `facilitator`, "
    "`program`, `kube`, `kube_grant`, `training_cohort`, `training_participant`, `allocation`, "
    "`disbursement`); empty for every type."
)


class SubscriptionStatus(StrEnum):
    active = "active"
    # Still delivers new changes, but some deliveries gave up (parked): look at the log.
    failing = "failing"
    paused = "paused"


class SettableStatus(StrEnum):
    """What a client may set; ``failing`` is the service's to set and to clear."""

    active = "active"
    paused = "paused"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    parked = "parked"


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where the changes are POSTed: an `https://` address.",
        examples=["https://sidesa.example.go.id/hooks/dinsos"],
    )
    event_types: list[str] = Field(
        default_factory=list, max_length=20, description=EVENT_TYPES_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=200)


class SubscriptionUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(
        default=None, max_length=20, description=EVENT_TYPES_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=200)
    status: SettableStatus | None = Field(
        default=None,
        description="`paused` keeps queueing changes without sending them; `active` sends "
        "again, from the oldest queued.",
    )


class SubscriptionOut(RecordOut):
    url: str
    event_types: list[str] = Field(description=EVENT_TYPES_DESCRIPTION)
    description: str | None
    status: SubscriptionStatus
    failing_since: datetime | None = Field(
        description="When deliveries first gave up, while the subscription is `failing`."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until when messages are also signed with the secret before the last rotation."
    )


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64), shown only in this answer: keep "
        "it to verify the `webhook-signature` of each message."
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int = Field(description="The change's id; the message carries it too.")
    event_type: str = Field(description="The changed record's type.", examples=["kpm"])
    record_id: str
    action: str = Field(examples=["update"])
    status: DeliveryStatus = Field(
        description="`pending`: waits for its (next) attempt; `delivered`: your endpoint "
        "answered 2xx; `parked`: retries gave up (redeliver it when your endpoint is back)."
    )
    attempts: int
    last_status_code: int | None = Field(description="Your endpoint's last HTTP status.")
    last_error: str | None = Field(description="Why the last attempt failed, when it did.")
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    delivered_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class RedeliveredCount(BaseModel):
    redelivered: int = Field(description="How many parked deliveries are pending again.")
