"""Webhook subscriptions and their outbox.

A subscription belongs to one API client and sees what that client may see: the events of its
region, masked for its scopes, as the change feed hands them out. Every change event that
matches a subscription gets one ``webhook_delivery`` row, written in the transaction of the
change itself (so no acknowledged write is left unannounced); the dispatcher sends them in
feed order per subscription, and ``webhook_attempt`` keeps the log of every try.

The same outbox carries the DCI Social Registry's messages (``service.dci.deliveries``): a
subscription row of another ``kind`` is a DCI channel, a delivery may carry a prebuilt message
``body`` instead of a change event, and each kind is signed its own way (Standard Webhooks'
HMAC headers for webhooks, the service's DCI signature in the envelope for DCI channels), with
the same guarantees: address policy, retries, order per channel, one sender at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Column, Field, SQLModel, String

from service.records import RecordColumns, utcnow

# Subscription statuses: ``active`` delivers; ``failing`` still delivers new events but has
# parked deliveries (retries exhausted) an operator or the client should look at; ``paused``
# queues without sending.
SUBSCRIPTION_STATUSES = ("active", "failing", "paused")
# Delivery statuses: ``pending`` waits for its (next) attempt; ``delivered`` got a 2xx;
# ``parked`` gave up after the retry window (redelivery makes it pending again).
DELIVERY_STATUSES = ("pending", "delivered", "parked")
# A DCI notification whose family does not match its subscription's filter is ``skipped``: never
# sent, no attempt logged (webhook deliveries never are).
SKIPPED = "skipped"

# Kinds of subscription rows (outbox channels): a client's webhook subscription; the channel
# of one DCI subscription (its change events become ``registry/notify`` messages); a client's
# DCI callback address (prebuilt ``on-search``... messages, no change events).
WEBHOOK = "webhook"
DCI_NOTIFY = "dci-notify"
DCI_CALLBACK = "dci-callback"
KINDS = (WEBHOOK, DCI_NOTIFY, DCI_CALLBACK)


class WebhookSubscription(RecordColumns, table=True):
    __tablename__ = "webhook_subscription"
    __table_args__ = (
        # One callback channel per client and address: its messages go out in order.
        Index(
            "ux_webhook_subscription_dci_callback",
            "client_id",
            "url",
            unique=True,
            postgresql_where=text("kind = 'dci-callback' AND deleted_at IS NULL"),
        ),
    )

    client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=False)
    )
    url: str = Field(max_length=2000)
    # The record types wanted; empty means every type.
    event_types: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String), nullable=False, server_default=text("'{}'")),
    )
    description: str | None = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=20)
    kind: str = Field(default=WEBHOOK, max_length=20, sa_column_kwargs={"server_default": WEBHOOK})
    # Standard Webhooks secrets (``whsec_`` + base64). After a rotation the previous secret
    # keeps signing beside the new one until ``previous_secret_expires_at``. None for DCI
    # channels, which the service's own DCI key signs.
    secret: str | None = Field(default=None, max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_type=DateTime(timezone=True)
    )
    failing_since: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription. ``txid`` and ``event_id`` copy the event's feed position:
    deliveries of a subscription are sent in that order. A prebuilt message (DCI callbacks)
    has no event but its ``body``; its ``txid`` is the transaction that queued it, so it too
    goes out in commit order, after that transaction has committed."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index(
            "ix_webhook_delivery_pending",
            "subscription_id",
            "txid",
            "event_id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_delivery_subscription_id_id", "subscription_id", "id"),
        Index("ix_webhook_delivery_event_id", "event_id"),
        # A prebuilt body is cleared once the delivery is settled (delivered or parked).
        CheckConstraint(
            "event_id IS NOT NULL OR body IS NOT NULL OR status <> 'pending'",
            name="event_or_body",
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    subscription_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False)
    )
    event_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger, ForeignKey("change_event.id", ondelete="CASCADE"), nullable=True
        ),
    )
    # A prebuilt message, unsigned (DCI: ``{"header", "message"}``, signed at each attempt);
    # cleared once delivered or parked, as it may hold unmasked personal data.
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # The body holds unmasked personal data: sent only while the client holds ``pii:read``.
    dci_personal: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # The DCI transaction this message answers, settled when it is delivered: its status
    # becomes the callback's, its response ``dci_response`` (what the journal keeps of it).
    dci_response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    dci_transaction_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey("dci_transaction.id", ondelete="SET NULL"), nullable=True),
    )
    txid: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="pending", max_length=20)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)


class WebhookAttempt(SQLModel, table=True):
    """The delivery log: one row per try."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery_id", "delivery_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    delivery_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("webhook_delivery.id", ondelete="CASCADE"), nullable=False
        )
    )
    attempted_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = 0
