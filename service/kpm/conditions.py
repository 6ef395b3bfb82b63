"""The conditions a list of families can be narrowed by, one per attribute, as SQL: the one set
REST's list filters (``families.family_query``, so the export and GraphQL too) and the DCI
registry's queries (``service.dci.search``) are built from, so that a filter means the same
through every door.

Each attribute belongs to the family or to its members. A family condition is a condition on
``kpm_family``; a member condition is one on ``kpm_member``, which a list of families asks of
"some member of the family" (``on_families``) and a list of members of the member itself
(``on_members``, whose query joins the family, so family conditions apply there as they are).
Values come typed and checked: each door parses its own input (REST with its query parameters,
DCI with its own rules) and hands these the values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, not_, or_
from sqlmodel import col

from service.access import within
from service.kpm.tables import Enrollment, Family, Member
from service.lists import name_contains

Level = Literal["family", "member"]
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
ORDERED = frozenset(OPERATORS)
EQUALITY = frozenset({"eq", "ne", "in"})


@dataclass(frozen=True)
class Condition:
    """An SQL condition on the family (``level`` "family") or on one member ("member")."""

    level: Level
    clause: ColumnElement[bool]


def compare(column: Any, operator: str, value: Any) -> ColumnElement[bool]:
    """``column <operator> value``; ``in`` takes a sequence of values. On a nullable column
    (a family never visited has no ``verification_status``, one not ranked no ``desil``) the
    condition is true or false, never NULL, so that its negation means what it says: ``ne``
    is ``IS DISTINCT FROM`` (a family without a status is not "ineligible"), the others are
    false on NULL, and ``$not`` of any of them holds where it does not."""
    if getattr(getattr(column, "expression", None), "nullable", False):
        if operator == "ne":
            return col(column).is_distinct_from(value)
        return and_(col(column).is_not(None), compare_present(column, operator, value))
    return compare_present(column, operator, value)


def compare_present(column: Any, operator: str, value: Any) -> ColumnElement[bool]:
    """``column <operator> value`` as SQL says it (NULL where the column is)."""
    if operator == "in":
        return col(column).in_(list(value))
    comparisons: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "eq": lambda c, v: c == v,
        "ne": lambda c, v: c != v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
    }
    return comparisons[operator](column, value)


# --- family attributes -----------------------------------------------------------------------


def in_region(region_code: str) -> Condition:
    """The family's village lies in ``region_code`` (dotted): the region prefix filter."""
    return Condition("family", within(col(Family.village_code), region_code))


def region_condition(operator: str, value: Any) -> Condition:
    """``region`` eq/ne/in: in (not in, in one of) regions given as dotted codes."""
    codes = list(value) if operator == "in" else [value]
    inside = or_(*(within(col(Family.village_code), code) for code in codes))
    return Condition("family", not_(inside) if operator == "ne" else inside)


def family_column(name: str) -> Callable[[str, Any], Condition]:
    column = getattr(Family, name)

    def build(operator: str, value: Any) -> Condition:
        return Condition("family", compare(column, operator, value))

    return build


def enrolled(program: str | Sequence[str] | None = None, status: str | None = None) -> Condition:
    """The family has an enrollment in ``program`` (one code, or any of several), in
    ``status`` when given."""
    conditions = [col(Enrollment.family_id) == Family.id]
    if isinstance(program, str):
        conditions.append(col(Enrollment.program_code) == program.upper())
    elif program is not None:
        conditions.append(col(Enrollment.program_code).in_([code.upper() for code in program]))
    if status:
        conditions.append(col(Enrollment.status) == status)
    return Condition("family", exists().where(and_(*conditions)))


def program_condition(operator: str, value: Any) -> Condition:
    """``program`` eq/in: enrolled in it (one of them); ne: not enrolled in it."""
    if operator == "ne":
        return Condition("family", not_(enrolled(str(value)).clause))
    return enrolled(list(value) if operator == "in" else str(value))


# --- member attributes -----------------------------------------------------------------------


def member_column(name: str) -> Callable[[str, Any], Condition]:
    column = getattr(Member, name)

    def build(operator: str, value: Any) -> Condition:
        return Condition("member", compare(column, operator, value))

    return build


def member_name_contains(text: str) -> Condition:
    return Condition("member", name_contains(col(Member.name), text))


# attribute -> (the operators it takes, the builder of its condition)
ATTRIBUTES: dict[str, tuple[frozenset[str], Callable[[str, Any], Condition]]] = {
    "region": (EQUALITY, region_condition),
    "village_code": (EQUALITY, family_column("village_code")),
    "desil": (ORDERED, family_column("desil")),
    "verification_status": (EQUALITY, family_column("verification_status")),
    "no_kk": (EQUALITY, family_column("no_kk")),
    "updated_at": (ORDERED, family_column("updated_at")),
    "created_at": (ORDERED, family_column("created_at")),
    "program": (EQUALITY, program_condition),
    "nik": (EQUALITY, member_column("nik")),
    "birth_date": (ORDERED, member_column("birth_date")),
    "sex": (EQUALITY, member_column("sex")),
    "relationship": (EQUALITY, member_column("relationship")),
}


def condition(attribute: str, operator: str, value: Any) -> Condition:
    """The condition ``attribute <operator> value``; a ``KeyError`` for an attribute or an
    operator it does not take (the doors check both before)."""
    operators, build = ATTRIBUTES[attribute]
    if operator not in operators:
        raise KeyError(operator)
    return build(operator, value)


def updated_since(moment: dt.datetime) -> Condition:
    return condition("updated_at", "gte", moment)


# --- composing -------------------------------------------------------------------------------


def on_families(item: Condition) -> ColumnElement[bool]:
    """``item`` for a list of (live) families: a member condition holds for some member. The
    members of a live family are ``live``, which lets the partial NIK index serve the lookup."""
    if item.level == "family":
        return item.clause
    return exists().where(col(Member.family_id) == Family.id, col(Member.live), item.clause)


def on_members(item: Condition) -> ColumnElement[bool]:
    """``item`` for a list of members joined with their (live) family: as it is (the list
    itself keeps to ``live`` members)."""
    return item.clause
