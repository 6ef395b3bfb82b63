"""The DCI door's tables: the public keys senders sign with, and the journal of the messages
received (replay detection, transaction status)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel, String

from service.records import utcnow

ALGORITHMS = ("ed25519", "es256")


class SenderKey(SQLModel, table=True):
    """A public key a client's DCI messages are signed with, registered by an operator
    (``dinsos clients dci-key add``). A client with a key that is not revoked must sign."""

    __tablename__ = "dci_sender_key"
    __table_args__ = (UniqueConstraint("client_id", "key_id"),)

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=False)
    )
    key_id: str = Field(max_length=99)
    algorithm: str = Field(max_length=10)  # ALGORITHMS
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": text("now()")},
    )
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class SenderId(SQLModel, table=True):
    """A DCI ``sender_id`` a client may send as, registered by an operator (``dinsos clients
    dci-sender add``). A client with some registered may send as no other."""

    __tablename__ = "dci_sender"
    __table_args__ = (UniqueConstraint("client_id", "sender_id"),)

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=False)
    )
    sender_id: str = Field(max_length=99)
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": text("now()")},
    )


class DciTransaction(SQLModel, table=True):
    """One DCI message received from a client: a second one with the same (client, sender,
    message_id) is a replay. ``response`` keeps the message answered or called back, for
    ``txn/status``; ``correlation_id`` is ours, handed to the sender."""

    __tablename__ = "dci_transaction"
    __table_args__ = (
        UniqueConstraint("client_id", "sender_id", "message_id"),
        Index("ix_dci_transaction_client_id_transaction_id", "client_id", "transaction_id"),
        Index("ix_dci_transaction_correlation_id", "correlation_id", unique=True),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    client_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=False)
    )
    sender_id: str = Field(max_length=99)
    message_id: str = Field(max_length=99)
    transaction_id: str | None = Field(default=None, max_length=99)
    action: str = Field(max_length=20)
    correlation_id: str = Field(max_length=99)
    status: str = Field(max_length=4)  # rcvd, pdng, succ, rjct
    reference_ids: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String), nullable=False, server_default=text("'{}'")),
    )
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": text("now()")},
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": text("now()")},
    )
