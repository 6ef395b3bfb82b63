"""Programs: the four national programs are seeded; offices may add their own local programs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.programs import ProgramCreate, ProgramLevel, ProgramOut, ProgramUpdate
from service.access import Caller, ensure_writable, visible_to
from service.errors import Conflict, ErrorList, NotFound
from service.journal import apply_update, field_changes, record_write
from service.lists import page_by_column
from service.pagination import DEFAULT_LIMIT, Page, check_limit
from service.programs.tables import Program
from service.regions.codes import RegionLevel, level_of, parse_region_code
from service.regions.service import regions_exist
from service.versions import ensure_version

ENTITY = "program"

SEED_PROGRAMS: list[dict[str, Any]] = [
    {
        "code": "PKH",
        "name": "Program Keluarga Harapan",
        "level": "national",
        "benefit_kind": "cash",
    },
    {
        "code": "BPNT",
        "name": "Bantuan Pangan Non Tunai",
        "level": "national",
        "benefit_kind": "in_kind",
    },
    {
        "code": "PK3E",
        "name": "Program Percepatan Penghapusan Kemiskinan Ekstrem",
        "level": "district",
        "benefit_kind": "training",
    },
    {
        "code": "KUBE",
        "name": "Kelompok Usaha Bersama",
        "level": "national",
        "benefit_kind": "capital",
        "group_size_min": 5,
        "group_size_max": 10,
    },
]

_REGION_LEVEL_FOR = {
    ProgramLevel.national: None,
    ProgramLevel.provincial: RegionLevel.province,
    ProgramLevel.district: RegionLevel.regency,
}


def present_program(program: Program) -> ProgramOut:
    return ProgramOut.model_validate(program)


async def seed_programs(session: AsyncSession) -> None:
    """Reference data shipped with the service; existing rows are left as offices edited them."""
    # A multi-row VALUES takes its columns from the first row: give every row every column.
    rows = [{"group_size_min": None, "group_size_max": None, **row} for row in SEED_PROGRAMS]
    await session.execute(
        insert(Program).values(rows).on_conflict_do_nothing(index_elements=["code"])
    )


async def list_programs(
    session: AsyncSession, caller: Caller, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Program]:
    check_limit(limit)
    query = visible_programs(caller)
    return await page_by_column(session, query, col(Program.code), limit=limit, cursor=cursor)


def visible_programs(caller: Caller) -> Select[Program]:
    """National programs and the local ones run in the caller's region.
    The read by id and the list both start from it."""
    return select(Program).where(visible_to(caller, col(Program.region_code)))


async def get_program(
    session: AsyncSession, caller: Caller, code: str, *, for_update: bool = False
) -> Program:
    query = visible_programs(caller).where(col(Program.code) == code.upper())
    if for_update:
        query = query.with_for_update()
    program = (await session.scalars(query)).one_or_none()
    if program is None:
        raise NotFound.of(ENTITY)
    return program


async def _checked_region(
    session: AsyncSession, level: ProgramLevel, raw_region: str | None, errors: ErrorList
) -> str | None:
    """The program's region in dotted form, checked against its level."""
    wanted_level = _REGION_LEVEL_FOR[level]
    if not raw_region:
        if wanted_level is not None:
            errors.add("region_code", "required", f"A {level.value} program needs a region.")
        return None
    region = parse_region_code(raw_region)
    if region is None:
        errors.add("region_code", "invalid_region_code", "Not a region code.")
        return None
    if wanted_level is None:
        errors.add("region_code", "not_allowed", "A national program has no region.")
    elif level_of(region) != wanted_level:
        errors.add("region_code", "wrong_level", f"A {level.value} program needs a {wanted_level}.")
    elif not await regions_exist(session, {region}):
        errors.add("region_code", "unknown_region", "No region with that code.")
    return region


def _check_group_size(minimum: int | None, maximum: int | None, errors: ErrorList) -> None:
    if (minimum is None) != (maximum is None):
        errors.add("group_size_max", "incomplete", "Give both group_size_min and group_size_max.")
    elif minimum is not None and maximum is not None and maximum < minimum:
        errors.add("group_size_max", "below_minimum", "group_size_max is below group_size_min.")


def _snapshot(program: Program) -> dict[str, Any]:
    return program.model_dump(exclude={"id", "created_at", "updated_at", "version"})


async def create_program(session: AsyncSession, caller: Caller, data: ProgramCreate) -> Program:
    caller.require("programs:write")
    errors = ErrorList()
    region = await _checked_region(session, data.level, data.region_code, errors)
    _check_group_size(data.group_size_min, data.group_size_max, errors)
    errors.raise_if_any()
    ensure_writable(caller, region)
    program = Program(**data.model_dump(mode="json", exclude={"region_code"}), region_code=region)
    # A concurrent create of the same code loses on the unique index, not on this check;
    # ON CONFLICT keeps that race a clean 409 instead of an error mid-transaction.
    values = _snapshot(program) | {"id": program.id}
    inserted = await session.scalar(
        insert(Program)
        .values(values)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(col(Program.id))
    )
    if inserted is None:
        raise Conflict(
            "A program with that code exists.", code="duplicate_code", params={"field": "code"}
        )
    program = await get_program(session, caller, data.code)
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=program.id,
        region_code=program.region_code,
        version=program.version,
        changes=field_changes({}, _snapshot(program)),
    )
    return program


async def update_program(
    session: AsyncSession, caller: Caller, code: str, data: ProgramUpdate, *, if_match: int | None
) -> Program:
    caller.require("programs:write")
    program = await get_program(session, caller, code, for_update=True)
    ensure_writable(caller, program.region_code)
    ensure_version(program.version, if_match)
    changes = data.model_dump(mode="json", exclude_unset=True)
    level = ProgramLevel(changes.get("level", program.level))
    errors = ErrorList()
    if "region_code" in changes or "level" in changes:
        raw_region = changes.get("region_code", program.region_code)
        changes["region_code"] = await _checked_region(session, level, raw_region, errors)
    for required in ("name", "level", "benefit_kind", "active"):
        if required in changes and changes[required] is None:
            errors.add(required, "required", f"{required} cannot be emptied.")
    _check_group_size(
        changes.get("group_size_min", program.group_size_min),
        changes.get("group_size_max", program.group_size_max),
        errors,
    )
    errors.raise_if_any()
    ensure_writable(caller, changes.get("region_code", program.region_code))
    await apply_update(
        session,
        caller,
        program,
        changes,
        snapshot=_snapshot,
        entity=ENTITY,
        region_of=lambda changed: changed.region_code,
    )
    return program
