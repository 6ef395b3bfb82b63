"""The read by id writes a family straight to JSON (``family_json``): byte for byte what
``FamilyOut`` would write, for every kind of value a family holds, masked and not."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from asyncpg.pgproto.pgproto import UUID as DriverUUID

from service.access import Caller
from service.kpm.views import (
    Attributes,
    EnrollmentRow,
    FamilyRecordRow,
    MemberRow,
    family_json,
    present_family,
)

UTC = dt.UTC


def _row(**values: Any) -> Attributes:
    return Attributes(values)


def _id() -> uuid.UUID:
    """An id as asyncpg hands it over: its own subclass of ``uuid.UUID``."""
    return DriverUUID(str(uuid.uuid4()))


def _family(**overrides: Any) -> FamilyRecordRow:
    family_id = _id()
    family = {
        "id": family_id,
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
        "updated_at": dt.datetime(2026, 11, 30, 10, 25, 51, 269362, tzinfo=UTC),
        "version": 7,
        "no_kk": "3328020101230001",
        "village_code": "33.28.02.2001",
        "address": "Jl. Mawar — RT 01 «Ü»",
        "desil": 2,
        "dtsen_id": None,
        "facilitator_id": _id(),
        "verification_status": "eligible",
        "archived_at": None,
        "archive_reason": None,
        **overrides,
    }
    members: list[MemberRow] = [
        _row(
            id=_id(),
            nik=f"332802550585000{number}",
            name="Siti Ṡalmah",
            sex="P",
            birth_date=dt.date(1985, 5, 15),
            relationship="ISTRI" if number else "KEPALA_KELUARGA",
            nik_mismatch=bool(number),
        )
        for number in range(3)
    ]
    enrollments: list[EnrollmentRow] = [
        _row(
            id=_id(),
            created_at=dt.datetime(2026, 2, 1, 0, 0, 0, 100, tzinfo=UTC),
            updated_at=dt.datetime(2026, 3, 1, 12, 0, 0, 120000, tzinfo=UTC),
            version=2,
            family_id=family_id,
            program_code=code,
            status=status,
            started_on=dt.date(2024, 1, 1),
            ended_on=ended,
            graduation_kind=kind,
            credited_facilitator_id=None,
        )
        for code, status, ended, kind in (
            ("BPNT", "active", None, None),
            ("PKH", "graduated", dt.date(2026, 6, 30), "mandiri"),
        )
    ]
    return FamilyRecordRow(_row(**family), members, enrollments)


@pytest.mark.parametrize("scopes", [{"kpm:read", "pii:read"}, {"kpm:read"}])
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "archived_at": dt.datetime(2026, 11, 1, tzinfo=UTC),
            "archive_reason": "moved",
            "verification_status": None,
            "facilitator_id": None,
            "desil": None,
            "address": None,
            "dtsen_id": "DTSEN-1",
        },
    ],
)
def test_the_family_json_is_what_family_out_writes(
    scopes: set[str], overrides: dict[str, Any]
) -> None:
    caller = Caller(uuid.uuid4(), "reader", frozenset(scopes), region_code=None)
    record = _family(**overrides)
    pydantic = present_family(record, caller)
    assert family_json(record, caller) == pydantic.__pydantic_serializer__.to_json(pydantic)
