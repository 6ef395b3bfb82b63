"""What every table shares: the metadata naming convention and the record columns.

All records carry an opaque UUID, ``created_at``, ``updated_at`` and an integer ``version``
that goes up by one on every write; the version is what REST exposes as the ``ETag``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, func, text
from sqlmodel import Field, SQLModel

# Stable constraint names, so Alembic autogenerate produces reviewable, reversible migrations.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class RecordColumns(SQLModel):
    # The server default lets bulk paths (COPY) leave ids to the database.
    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})

    def touch(self) -> None:
        """Mark a write: the next version and a fresh ``updated_at``."""
        self.version += 1
        self.updated_at = utcnow()
