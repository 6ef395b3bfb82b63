"""``registry/search`` and ``registry/sync/search``: a batch of search requests answered one by
one, each by its ``reference_id``, from the same conditions REST's family list is built from
(``service.kpm.conditions``) on the same "families this caller may see"
(``families.live_families``), so the region rule and every filter mean what they mean in REST.

Queries (``search_criteria.query_type``):

- ``idtype-value``: ``{"type": "NIK" | "KK", "value": "<16 digits>"}``;
- ``expression``: ``{"type": "expression", "value": {"expression": {"collection": "Group",
  "query": {...}}}}`` where the query is ``{"$and": [...]}``, ``{"$or": [...]}``,
  ``{"$not": {...}}`` or ``{"<attribute>": {"$eq" | "$ne" | "$lt" | "$lte" | "$gt" | "$gte" |
  "$in": value}}`` (several operators or attributes in one object: all of them);
- ``predicate``: the spec's list of ``{seq_num, expression1, condition, expression2}`` with
  operators ``eq ne lt le gt ge in``; an item is ``expression1 <condition> expression2``
  (``not``: expression1 and not expression2), the items all hold (in ``seq_num`` order).

Attributes: ``village_code``, ``region`` (a region code: families in it), ``desil``,
``verification_status``, ``program``, ``no_kk`` (the family's), ``updated_at``, ``created_at``;
``birth_date``, ``sex``, ``relationship``, ``nik`` (a member's: for a Group, some member's).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ColumnElement, and_, func, not_, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kpm import Relationship, VerificationOutcome
from service.access import Caller
from service.dci import reasons
from service.dci.envelopes import parse_timestamp, timestamp, transaction_id_of
from service.dci.reasons import DciRejection
from service.dci.records import group_fields, member_record
from service.journal import record_reads
from service.kpm import conditions
from service.kpm.conditions import Condition
from service.kpm.families import ENTITY, live_families
from service.kpm.identity import nik_problem
from service.kpm.tables import Enrollment, Family, Member
from service.kpm.views import PII_SCOPE, Attributes
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT
from service.regions.codes import parse_region_code

REG_TYPE = "ns:dinsos:RegistryType:Social"
GROUP, MEMBER = "Group", "Member"
RECORD_TYPES = {"Group": GROUP, "Member": MEMBER, "Person": MEMBER, "SRPerson": MEMBER}
QUERY_TYPES = ("idtype-value", "expression", "predicate")
# The most operators, attributes and values one query may hold (each becomes SQL).
MAX_QUERY_SIZE = 500
# Records further into a query than this are not paged, and a query matching more is refused
# (``rjct.search.too_many_records_found``): it should be narrower. Counting stops there too.
MAX_OFFSET = 10_000
# The most records one message's requests may ask for in all (their page sizes summed).
MAX_MESSAGE_RECORDS = 5_000
ID_TYPES = {"NIK": "nik", "KK": "no_kk", "NO_KK": "no_kk", "NOKK": "no_kk"}
EXPRESSION_OPERATORS = {f"${op}": op for op in conditions.OPERATORS}
PREDICATE_OPERATORS = {
    "eq": "eq", "ne": "ne", "lt": "lt", "le": "lte", "gt": "gt", "ge": "gte", "in": "in",
}  # fmt: skip
LOCALE = re.compile(r"^[a-z]{3}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,39}$")


def _refuse(code: str, message: str) -> DciRejection:
    return DciRejection(code, message)


def _criteria(message: str) -> DciRejection:
    return _refuse(reasons.SEARCH_CRITERIA_INVALID, message)


def _named(name: object) -> str:
    """A name the sender gave, repeated only when it looks like one (never a number)."""
    return f"'{name}'" if isinstance(name, str) and _NAME.match(name) else "given"


# --- values ----------------------------------------------------------------------------------


def _region(value: Any) -> str:
    code = parse_region_code(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError("a region code of 2, 4, 6 or 10 digits, dotted or not")
    return code


def _desil(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10:
        raise ValueError("a whole number 1 to 10")
    return value


def _one_of(choices: Sequence[str], *, upper: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = value.upper() if upper and isinstance(value, str) else value
        if text not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return str(text)

    return parse


def _program(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 20:
        raise ValueError("a program code")
    return value.upper()


def _number16(value: Any) -> str:
    if isinstance(value, str) and len(value) == 16 and value.isascii() and value.isdigit():
        return value
    raise ValueError("16 digits")


def _nik(value: Any) -> str:
    if not isinstance(value, str) or nik_problem(value) is not None:
        raise ValueError("a NIK (16 digits)")
    return value


def _date(value: Any) -> dt.date:
    if isinstance(value, str):
        moment = parse_timestamp(value)
        if moment is not None:
            return moment.date()
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("a date, YYYY-MM-DD")


def _moment(value: Any) -> dt.datetime:
    moment = parse_timestamp(value)
    if moment is None:
        raise ValueError("an RFC 3339 date-time with its offset")
    try:
        # PostgreSQL compares in UTC: an offset that carries the moment out of years 1-9999
        # ("9999-12-31T23:59:59-23:59") is no moment it can hold.
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("a date-time whose UTC time lies within years 1 to 9999") from None
    return moment


def _sex(value: Any) -> str:
    sexes = {"male": "L", "female": "P", "l": "L", "p": "P"}
    if isinstance(value, str) and value.lower() in sexes:
        return sexes[value.lower()]
    raise ValueError("male or female")


# The attributes a DCI query may name, each with the parser of its values.
ATTRIBUTES: dict[str, Callable[[Any], Any]] = {
    "village_code": _region,
    "region": _region,
    "desil": _desil,
    "verification_status": _one_of([outcome.value for outcome in VerificationOutcome]),
    "program": _program,
    "no_kk": _number16,
    "updated_at": _moment,
    "created_at": _moment,
    "nik": _nik,
    "birth_date": _date,
    "sex": _sex,
    "relationship": _one_of([relationship.value for relationship in Relationship], upper=True),
}


def attribute_condition(attribute: Any, operator: str, value: Any) -> Condition:
    """``attribute <operator> value`` from a query, checked: a ``rjct.search_criteria.invalid``
    for an attribute or operator this registry does not know, or a value it cannot take."""
    if not isinstance(attribute, str) or attribute not in ATTRIBUTES:
        raise _criteria(f"The attribute {_named(attribute)} is not searchable here.")
    operators, _ = conditions.ATTRIBUTES[attribute]
    if not isinstance(operator, str) or operator not in operators:
        raise _criteria(f"The attribute '{attribute}' does not take the operator '{operator}'.")
    parse = ATTRIBUTES[attribute]
    try:
        if operator == "in":
            if not isinstance(value, list) or not value or len(value) > 100:
                raise ValueError("a list of 1 to 100 values")
            parsed: Any = [parse(item) for item in value]
        else:
            parsed = parse(value)
    except ValueError as error:
        raise _criteria(f"The value of '{attribute}' must be {error}.") from None
    return conditions.condition(attribute, operator, parsed)


# --- queries ---------------------------------------------------------------------------------


def _put(item: Condition, entity: str) -> ColumnElement[bool]:
    return conditions.on_families(item) if entity == GROUP else conditions.on_members(item)


def _expression(node: Any, entity: str, depth: int = 0) -> ColumnElement[bool]:
    """An expression object as SQL. The attributes of one object (and the operators of one
    attribute) hold together: for a Group, the member conditions of one object hold for the
    same member (``{"sex": "female", "birth_date": {"$gte": ...}}``), those of separate objects
    of an ``$and`` each for some member."""
    if depth > 8:
        raise _criteria("The expression nests too deep (8 levels at most).")
    if not isinstance(node, Mapping) or not node:
        raise _criteria("An expression is an object of operators or attributes.")
    parts: list[ColumnElement[bool]] = []
    member: list[ColumnElement[bool]] = []  # this object's member conditions, held together
    for key, value in node.items():
        if not isinstance(key, str):
            raise _criteria("An expression's keys are operators or attribute names.")
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _criteria(f"'{key}' takes a list of expressions.")
            inner = [_expression(item, entity, depth + 1) for item in value]
            parts.append(and_(*inner) if key == "$and" else or_(*inner))
        elif key == "$not":
            parts.append(not_(_expression(value, entity, depth + 1)))
        elif key.startswith("$"):
            raise _criteria(f"The operator {_named(key.lstrip('$'))} is not supported here.")
        else:
            for item in _comparisons(key, value):
                (member if item.level == "member" else parts).append(item.clause)
    if member:
        parts.append(_put(Condition("member", and_(*member)), entity))
    return and_(*parts) if len(parts) > 1 else parts[0]


def _comparisons(attribute: str, value: Any) -> list[Condition]:
    """``{"$op": operand, ...}`` (or a bare value: ``$eq``) of one attribute."""
    if not isinstance(value, Mapping):
        return [attribute_condition(attribute, "eq", value)]
    if not value:
        raise _criteria('An attribute\'s comparison is an object such as {"$eq": 1}.')
    found = []
    for operator, operand in value.items():
        if not isinstance(operator, str) or operator not in EXPRESSION_OPERATORS:
            raise _criteria(
                f"The operator {_named(str(operator).lstrip('$'))} is not supported "
                "here (only $eq $ne $lt $lte $gt $gte $in)."
            )
        found.append(attribute_condition(attribute, EXPRESSION_OPERATORS[operator], operand))
    return found


def _expression_root(query: Any) -> tuple[Any, str | None]:
    """The expression of ``query`` and its ``collection``, in the spec's example form
    (``{type, value: {expression: {collection, query}}}``) or without the wrappers."""
    node = query.get("value", query) if isinstance(query, Mapping) else query
    if isinstance(node, Mapping) and "expression" in node:
        node = node["expression"]
    collection = None
    if isinstance(node, Mapping) and "query" in node:
        collection = node.get("collection")
        node = node["query"]
    if collection is None:
        return node, None
    if not isinstance(collection, str) or collection not in RECORD_TYPES:
        raise _criteria("The expression's collection is Group or Member.")
    return node, RECORD_TYPES[collection]


def _predicate(query: Any, entity: str) -> ColumnElement[bool]:
    if not isinstance(query, list) or not query or len(query) > 50:
        raise _criteria("A predicate query is a list of 1 to 50 predicates.")

    def side(expression: Any) -> ColumnElement[bool]:
        if not isinstance(expression, Mapping):
            raise _criteria("A predicate's expression is {attribute_name, operator, value}.")
        name = expression.get("operator")
        operator = PREDICATE_OPERATORS.get(name) if isinstance(name, str) else None
        if operator is None:
            raise _criteria("A predicate's operator is one of eq ne lt le gt ge in.")
        item = attribute_condition(
            expression.get("attribute_name"), operator, expression.get("attribute_value")
        )
        return _put(item, entity)

    def position(index: int, predicate: Any) -> tuple[int, int]:
        seq_num = predicate.get("seq_num", index) if isinstance(predicate, Mapping) else index
        if _whole(seq_num) is None:
            raise _criteria("A predicate's seq_num is a whole number.")
        return int(seq_num), index

    parts = []
    ordered = sorted(enumerate(query), key=lambda pair: position(*pair))
    for _, predicate in ordered:
        if not isinstance(predicate, Mapping) or "expression1" not in predicate:
            raise _criteria("Each predicate has an expression1.")
        first = side(predicate["expression1"])
        condition = predicate.get("condition")
        if condition is None and predicate.get("expression2") is None:
            parts.append(first)
            continue
        second = side(predicate.get("expression2"))
        if condition == "and":
            parts.append(and_(first, second))
        elif condition == "or":
            parts.append(or_(first, second))
        elif condition == "not":
            parts.append(and_(first, not_(second)))
        else:
            raise _criteria("A predicate's condition is and, or or not.")
    return and_(*parts)


def _id_value(query: Any, entity: str) -> ColumnElement[bool]:
    if not isinstance(query, Mapping):
        raise _criteria('An idtype-value query is {"type": "NIK" or "KK", "value"}.')
    kind = query.get("type")
    attribute = ID_TYPES.get(kind.upper()) if isinstance(kind, str) else None
    if attribute is None:
        raise _criteria("The identifier type is NIK or KK.")
    return _put(attribute_condition(attribute, "eq", query.get("value")), entity)


def response_entity(criteria: Mapping[str, Any]) -> str | None:
    entity = criteria.get("response_entity")
    if entity is not None:
        if not isinstance(entity, str) or entity not in (GROUP, MEMBER):
            raise _criteria("response_entity is Group or Member.")
        return str(entity)
    record_type = criteria.get("reg_record_type")
    if isinstance(record_type, str):
        return RECORD_TYPES.get(record_type.split(":")[-1])
    return None


def _size(node: Any, limit: int = MAX_QUERY_SIZE) -> int:
    """Objects' members, lists' items and values in a query, all counted, without recursion
    (a query nested a thousand levels deep is counted, not a RecursionError); the count stops
    past ``limit``."""
    size, pending = 0, [node]
    while pending and size <= limit:
        item = pending.pop()
        if isinstance(item, Mapping):
            size += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            size += len(item)
            pending.extend(item)
        else:
            size += 1
    return size


def translate(criteria: Mapping[str, Any]) -> tuple[str, ColumnElement[bool]]:
    """(``Group`` or ``Member``, the SQL condition) of a request's ``search_criteria``."""
    query_type, query = criteria.get("query_type"), criteria.get("query")
    if not isinstance(query_type, str) or query_type not in QUERY_TYPES:
        raise _criteria("query_type is idtype-value, expression or predicate.")
    entity = response_entity(criteria)
    if query_type == "idtype-value":
        entity = entity or GROUP
        return entity, _id_value(query, entity)
    if _size(query) > MAX_QUERY_SIZE:
        raise _criteria(f"A query holds at most {MAX_QUERY_SIZE} operators and values.")
    if query_type == "expression":
        node, collection = _expression_root(query)
        if entity and collection and entity != collection:
            raise _criteria("The expression's collection and response_entity differ.")
        entity = entity or collection or GROUP
        return entity, _expression(node, entity)
    entity = entity or GROUP
    return entity, _predicate(query, entity)


# --- sort and pages --------------------------------------------------------------------------

GROUP_SORTS: dict[str, Any] = {
    "updated_at": Family.updated_at,
    "last_updated": Family.updated_at,
    "created_at": Family.created_at,
    "registration_date": Family.created_at,
    "village_code": Family.village_code,
    "desil": Family.desil,
    "poverty_score": Family.desil,
    "verification_status": Family.verification_status,
}
MEMBER_SORTS: dict[str, Any] = {
    **GROUP_SORTS,
    "birth_date": Member.birth_date,
    "name": Member.name,
}


def order_of(sort: Any, entity: str) -> list[Any]:
    """The ORDER BY of ``sort`` (the spec's ``[{attribute_name, sort_order}]``), ending with the
    default order, REST's ``(updated_at, id)``, so that pages never overlap."""
    columns = MEMBER_SORTS if entity == MEMBER else GROUP_SORTS
    order: list[Any] = []
    if sort is not None:
        if not isinstance(sort, list) or len(sort) > 5:
            raise _refuse(reasons.SORT_INVALID, "sort is a list of at most 5 attributes.")
        for item in sort:
            name = item.get("attribute_name") if isinstance(item, Mapping) else None
            direction = item.get("sort_order", "asc") if isinstance(item, Mapping) else None
            if (
                not isinstance(name, str)
                or name not in columns
                or not isinstance(direction, str)
                or direction not in ("asc", "desc")
            ):
                raise _refuse(
                    reasons.SORT_INVALID,
                    f"Sort by one of {', '.join(sorted(columns))}, asc or desc.",
                )
            column = col(columns[name])
            order.append(column.desc() if direction == "desc" else column.asc())
    order += [col(Family.updated_at), col(Family.id)]
    if entity == MEMBER:
        order += [col(Member.position), col(Member.id)]
    return order


def _whole(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def page_of(pagination: Any) -> tuple[int, int]:
    """(page_size, page_number) of the spec's pagination, counted from 1."""
    if pagination is None:
        return DEFAULT_LIMIT, 1
    if not isinstance(pagination, Mapping):
        raise _refuse(reasons.PAGINATION_INVALID, "pagination is {page_size, page_number}.")
    size, number = _whole(pagination.get("page_size")), _whole(pagination.get("page_number", 1))
    if size is None or not 1 <= size <= MAX_LIMIT:
        raise _refuse(reasons.PAGINATION_INVALID, f"page_size is 1 to {MAX_LIMIT}.")
    if number is None or number < 1:
        raise _refuse(reasons.PAGINATION_INVALID, "page_number counts from 1.")
    if (number - 1) * size >= MAX_OFFSET:
        raise _refuse(
            reasons.TOO_MANY_RECORDS,
            f"Only the first {MAX_OFFSET} records of a query are paged: narrow the query.",
        )
    return size, number


# --- running ---------------------------------------------------------------------------------


def json_rows(table: Any, correlate: Any, order: Any, *fields: str) -> Any:
    rows = table.__table__.alias()
    record = func.json_build_object(*[part for name in fields for part in (name, rows.c[name])])
    aggregated = func.coalesce(
        func.json_agg(aggregate_order_by(record, rows.c[order])), func.json_build_array()
    )
    return type_coerce(
        select(aggregated).where(rows.c.family_id == correlate).scalar_subquery(), JSON
    )


@dataclass
class Found:
    records: list[dict[str, Any]]
    total: int
    read: list[tuple[object, str | None]]  # (family id, village) of each record, for the audit


async def _count(session: AsyncSession, query: Any) -> int:
    """How many rows ``query`` has, counted no further than ``MAX_OFFSET + 1``."""
    capped = query.limit(MAX_OFFSET + 1).subquery()
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)


def _paged(matching: Any, order: list[Any], size: int, number: int) -> Any:
    """The page ``number`` of ``matching`` (whose first column is the record's ``id``) as a CTE
    of ``id``, ``total`` and ``n`` (the position): the query's first ``MAX_OFFSET + 1`` records
    are numbered and counted, no more, so a query matching a million records costs what one
    matching ten thousand does."""
    capped = (
        matching.add_columns(func.row_number().over(order_by=order).label("n"))
        .order_by(*order)
        .limit(MAX_OFFSET + 1)
        .subquery("capped")
    )
    return (
        select(capped.c.id, func.count().over().label("total"), capped.c.n)
        .order_by(capped.c.n)
        .limit(size)
        .offset((number - 1) * size)
        .cte("page")
    )


def _too_many(total: int) -> None:
    if total > MAX_OFFSET:
        raise _refuse(
            reasons.TOO_MANY_RECORDS,
            f"The query matches more than {MAX_OFFSET} records: narrow it.",
        )


async def find_groups(
    session: AsyncSession, caller: Caller, where: ColumnElement[bool], order: list[Any],
    size: int, number: int,
) -> Found:  # fmt: skip
    """One page of families, with their members and enrollments and the total, in one
    statement."""
    matching: Any = live_families(caller).where(where).with_only_columns(col(Family.id).label("id"))
    page = _paged(matching, order, size, number)
    statement = (
        select(
            Family,
            page.c.total,
            json_rows(
                Member,
                Family.id,
                "position",
                "id",
                "nik",
                "name",
                "sex",
                "birth_date",
                "relationship",
            ),
            json_rows(
                Enrollment,
                Family.id,
                "program_code",
                "program_code",
                "status",
                "started_on",
                "ended_on",
            ),
        )  # fmt: skip
        .join(page, page.c.id == Family.id)
        .order_by(page.c.n)
    )
    rows = (await session.execute(statement)).all()
    total = rows[0][1] if rows else (await _count(session, matching) if number > 1 else 0)
    _too_many(total)
    unmasked = caller.has(PII_SCOPE)
    records = [
        group_fields(
            family,
            [Attributes(member) for member in members],
            [Attributes(enrollment) for enrollment in enrollments],
            unmasked=unmasked,
        )
        for family, _, members, enrollments in rows
    ]
    read = [(family.id, family.village_code) for family, *_ in rows]
    return Found(records, int(total), read)


async def find_members(
    session: AsyncSession, caller: Caller, where: ColumnElement[bool], order: list[Any],
    size: int, number: int,
) -> Found:  # fmt: skip
    """One page of members (of live families the caller may see), each with its family."""
    families = live_families(caller)
    matching: Any = (
        select(col(Member.id).label("id"))
        .select_from(Family)
        .join(Member, col(Member.family_id) == Family.id)
        .where(
            families.whereclause if families.whereclause is not None else true(),
            col(Member.live),
            where,
        )
    )
    page = _paged(matching, order, size, number)
    statement = (
        select(Member, Family, page.c.total)
        .join(page, page.c.id == Member.id)
        .join(Family, col(Family.id) == Member.family_id)
        .order_by(page.c.n)
    )
    rows = (await session.execute(statement)).all()
    total = rows[0][2] if rows else (await _count(session, matching) if number > 1 else 0)
    _too_many(total)
    records = [member_record(member, family, caller) for member, family, _ in rows]
    read = [(family.id, family.village_code) for _, family, _ in rows]
    return Found(records, int(total), read)


async def _answer_one(
    session: AsyncSession, caller: Caller, item: Any, seen: set[str], budget: list[int]
) -> tuple[dict[str, Any], list[tuple[object, str | None]]]:
    """One search request answered; ``budget[0]``: how many records the message's requests may
    still ask for (each takes its page size)."""
    reference = item.get("reference_id") if isinstance(item, Mapping) else None
    reference_text = str(reference)[:99] if isinstance(reference, str | int) else ""
    answer: dict[str, Any] = {"reference_id": reference_text, "timestamp": timestamp()}
    locale = item.get("locale") if isinstance(item, Mapping) else None
    if isinstance(locale, str) and LOCALE.match(locale):
        answer["locale"] = locale
    try:
        if not reference_text:
            raise _refuse(reasons.REFERENCE_ID_INVALID, "Each search request has a reference_id.")
        if reference_text in seen:
            raise _refuse(reasons.REFERENCE_ID_DUPLICATE, "Another request of the batch has it.")
        seen.add(reference_text)
        if parse_timestamp(item.get("timestamp")) is None:
            raise _refuse(reasons.TIMESTAMP_INVALID, "timestamp must be an RFC 3339 date-time.")
        criteria = item.get("search_criteria")
        if not isinstance(criteria, Mapping):
            raise _criteria("Each search request has search_criteria.")
        entity, where = translate(criteria)
        order = order_of(criteria.get("sort"), entity)
        size, number = page_of(criteria.get("pagination"))
        if size > budget[0]:
            raise _refuse(
                reasons.PAGINATION_INVALID,
                f"One message's requests ask for {MAX_MESSAGE_RECORDS} records at most in all "
                "(their page sizes summed): send the rest in another message.",
            )
        budget[0] -= size
        find = find_groups if entity == GROUP else find_members
        found = await find(session, caller, where, order, size, number)
    except DciRejection as refusal:
        answer.update(
            status="rjct", status_reason_code=refusal.code, status_reason_message=refusal.message
        )
        return answer, []
    answer.update(
        status="succ",
        data={
            "version": "1.0.0",
            "reg_type": REG_TYPE,
            "reg_record_type": entity,
            "reg_records": found.records,
        },
        pagination={"page_size": size, "page_number": number, "total_count": found.total},
    )
    return answer, found.read


async def answer_search(
    session: AsyncSession, caller: Caller, message: Mapping[str, Any], *, correlation_id: str
) -> tuple[dict[str, Any], int, int]:
    """The ``SearchResponse`` message for a ``SearchRequest``, one answer per request by its
    ``reference_id`` (``succ`` with its page of records, or ``rjct`` with the reason), and
    (total_count, completed_count) for the header. Records outside the caller's region are
    never found; NIK and No KK are masked without ``pii:read``, and an unmasked read is
    audited as REST audits it, one entry per family."""
    caller.require("kpm:read")
    transaction_id = transaction_id_of(message)
    requests = message.get("search_request")
    if not isinstance(requests, list) or not requests:
        raise DciRejection("", "message.search_request is a list of search requests.")
    seen: set[str] = set()
    budget = [MAX_MESSAGE_RECORDS]
    answers, read = [], []
    for item in requests:
        answer, families = await _answer_one(session, caller, item, seen, budget)
        answers.append(answer)
        read.extend(families)
    if read and caller.has(PII_SCOPE):
        await record_reads(session, caller, ENTITY, list(dict.fromkeys(read)))
    response = {
        "transaction_id": transaction_id,
        "correlation_id": correlation_id,
        "search_response": answers,
    }
    return response, len(answers), len(answers)
