from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Column, Field, String

from service.records import RecordColumns


class ApiClient(RecordColumns, table=True):
    """A machine client of one office, bound to one region (``None``: national).

    Only a hash of the secret is stored. ``secret_generation`` goes up on every rotation and is
    written into each token, so tokens issued before a rotation stop working with it.
    """

    __tablename__ = "api_client"

    name: str = Field(max_length=120)
    region_code: str | None = Field(default=None, max_length=13)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
    secret_hash: str = Field(max_length=255)
    secret_generation: int = Field(default=1)
    revoked_at: datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
    )
