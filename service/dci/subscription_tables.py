"""A DCI subscription (``registry/subscribe``): who subscribed, to which families (a filter in
the search's expression language, over family attributes), which events, and where the
``registry/notify`` messages go (its own outbox channel, ``service.dci.deliveries``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from service.records import RecordColumns

# SubscriptionStatus of the spec.
SUBSCRIBED = "subscribe"
UNSUBSCRIBED = "unsubscribe"


class DciSubscription(RecordColumns, table=True):
    """Its ``id`` is the spec's subscription ``code``."""

    __tablename__ = "dci_subscription"
    __table_args__ = (Index("ix_dci_subscription_client_id", "client_id"),)

    client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=False)
    )
    # The outbox channel (a ``dci-notify`` webhook_subscription row) its notifications use.
    channel_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False)
    )
    # The subscriber as its messages named it: notifications are addressed to ``sender_id``
    # and carry ``transaction_id`` and ``reference_id`` back.
    sender_id: str = Field(max_length=99)
    transaction_id: str = Field(max_length=99)
    reference_id: str = Field(max_length=99)
    reg_type: str | None = Field(default=None, max_length=99)
    reg_event_type: str = Field(max_length=99)
    notify_record_type: str = Field(max_length=99)
    filter_type: str = Field(max_length=20)
    filter: Any = Field(sa_column=Column(JSONB, nullable=False))
    notify_uri: str = Field(max_length=2000)
    status: str = Field(default=SUBSCRIBED, max_length=20)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
