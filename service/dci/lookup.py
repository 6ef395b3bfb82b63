"""The hot path of ``registry/sync/search``: one request looking up one family by an identifier
(``idtype-value``, NIK or KK, a Group, the first page in the default order), what a DCI client
does most. It runs as one statement without a transaction, as REST reads a family by id
(``families.read_family_at_once``): the family with its members and enrollments, the
``read_pii`` audit entry when the numbers leave unmasked, and the message's journal row, which
decides a replay (no row: a duplicate, and then no audit entry either). The statement is
compiled once per caller and identifier type. Any other message takes the general path
(``service.dci.sync.search``), which answers it the same way."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Integer,
    String,
    Uuid,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlmodel import col

from service.access import Caller
from service.database import DriverStatement, OneStatement
from service.dci import reasons, search
from service.dci.envelopes import RequestEnvelope, parse_timestamp, timestamp
from service.dci.journal import without_records
from service.dci.reasons import DciRejection
from service.dci.records import group_fields
from service.dci.tables import DciTransaction
from service.journal import read_audit
from service.kpm import conditions
from service.kpm.families import ENTITY, live_families
from service.kpm.tables import Enrollment, Family, Member
from service.kpm.views import PII_SCOPE, Attributes


@dataclass(frozen=True)
class Lookup:
    reference_id: str
    attribute: str  # nik, no_kk
    value: str
    page_size: int
    locale: str | None


def lookup_of(message: Mapping[str, Any]) -> Lookup | None:
    """The message as a lookup by identifier, or None when it is anything else (several
    requests, another query, a sort, a later page, a Member, a request to refuse)."""
    requests = message.get("search_request")
    transaction_id = message.get("transaction_id")
    if not isinstance(requests, list) or len(requests) != 1:
        return None
    if (
        not isinstance(transaction_id, str | int)
        or isinstance(transaction_id, bool)
        or not str(transaction_id).strip()
        or len(str(transaction_id)) > 99
    ):
        return None  # refused by the general path
    (item,) = requests
    if not isinstance(item, Mapping):
        return None
    reference, criteria = item.get("reference_id"), item.get("search_criteria")
    if not isinstance(reference, str) or not reference or len(reference) > 99:
        return None
    if parse_timestamp(item.get("timestamp")) is None or not isinstance(criteria, Mapping):
        return None
    query = criteria.get("query")
    if criteria.get("query_type") != "idtype-value" or criteria.get("sort") is not None:
        return None
    if not isinstance(query, Mapping) or not isinstance(query.get("type"), str):
        return None
    attribute = search.ID_TYPES.get(query["type"].upper())
    try:
        if attribute is None or search.response_entity(criteria) not in (None, search.GROUP):
            return None
        value = search.ATTRIBUTES[attribute](query.get("value"))
        size, number = search.page_of(criteria.get("pagination"))
    except (DciRejection, ValueError):
        return None
    if number != 1:
        return None
    locale = item.get("locale")
    return Lookup(
        reference_id=reference,
        attribute=attribute,
        value=value,
        page_size=size,
        locale=locale if isinstance(locale, str) and search.LOCALE.match(locale) else None,
    )


# The statement per caller (what it may see, whether it is audited) and identifier type.
_STATEMENTS: dict[tuple[object, ...], DriverStatement] = {}
_CAPACITY = 1000


def _statement(caller: Caller, attribute: str) -> DriverStatement:
    audited = caller.has(PII_SCOPE)
    key = (caller.client_id, caller.name, caller.region_code, audited, attribute)
    statement = _STATEMENTS.get(key)
    if statement is not None:
        return statement
    condition = conditions.condition(attribute, "eq", bindparam("value", type_=String()))
    order = search.order_of(None, search.GROUP)
    page = (
        live_families(caller)
        .where(conditions.on_families(condition))
        .with_only_columns(
            col(Family.id).label("id"),
            col(Family.village_code).label("village_code"),
            func.count().over().label("total"),
        )
        .order_by(*order)
        .limit(bindparam("size", type_=Integer()))
        .cte("page")
    )
    total = func.coalesce(select(func.max(page.c.total)).scalar_subquery(), 0)
    response = func.jsonb_set(
        bindparam("response", type_=JSONB()),
        literal_column("'{search_response,0,pagination,total_count}'::text[]"),
        func.to_jsonb(total),
    )
    journal = (
        insert(DciTransaction)
        .from_select(
            [
                "id",
                "client_id",
                "sender_id",
                "message_id",
                "transaction_id",
                "action",
                "correlation_id",
                "status",
                "reference_ids",
                "response",
            ],
            select(
                bindparam("id", type_=Uuid()),
                literal(caller.client_id, Uuid()),
                bindparam("sender_id", type_=String()),
                bindparam("message_id", type_=String()),
                bindparam("transaction_id", type_=String()),
                literal("search"),
                bindparam("correlation_id", type_=String()),
                literal("succ"),
                bindparam("reference_ids", type_=ARRAY(String())),
                response,
            ),
            include_defaults=False,  # the database's own: the times
        )  # fmt: skip
        .on_conflict_do_nothing(constraint="uq_dci_transaction_client_id")
        .returning(col(DciTransaction.id))
        .cte("journal")
    )
    records = Family.__table__.alias("found")  # type: ignore[attr-defined]
    query = (
        select(
            journal.c.id.label("recorded"),
            *records.c,
            page.c.total,
            search.json_rows(
                Member,
                records.c.id,
                "position",
                "id",
                "nik",
                "name",
                "sex",
                "birth_date",
                "relationship",
            ).label("members"),
            search.json_rows(
                Enrollment,
                records.c.id,
                "program_code",
                "program_code",
                "status",
                "started_on",
                "ended_on",
            ).label("enrollments"),
        )
        .select_from(
            journal.outerjoin(page.join(records, records.c.id == page.c.id), true()),
        )
        .order_by(records.c.updated_at, records.c.id)
    )
    if audited:
        # Written only when the journal row was: a replay leaves no trace but its refusal.
        read = (
            select(page.c.id, page.c.village_code).where(exists(select(journal.c.id))).cte("read")
        )
        audit = read_audit(
            caller, ENTITY, read.c.id, read.c.village_code,
            request_id=bindparam("request_id", type_=String()),
        )  # fmt: skip
        query = query.add_cte(audit.cte("audit"))
    if len(_STATEMENTS) >= _CAPACITY:
        _STATEMENTS.clear()
    statement = _STATEMENTS[key] = DriverStatement.of(query)
    return statement


def _json(value: Any) -> list[Any]:
    """A JSON column as the connection hands it over: text, or decoded already (SQLAlchemy's
    pooled connections decode JSON)."""
    if value is None:
        return []
    return orjson.loads(value) if isinstance(value, str | bytes) else list(value)


async def look_up(
    statements: OneStatement,
    caller: Caller,
    envelope: RequestEnvelope,
    lookup: Lookup,
    *,
    correlation_id: str,
) -> dict[str, Any]:
    """The SearchResponse message of a lookup, journaled; a replay raises
    ``rjct.message_id.duplicate``."""
    caller.require("kpm:read")
    answer: dict[str, Any] = {
        "reference_id": lookup.reference_id,
        "timestamp": timestamp(),
        "status": "succ",
        "pagination": {"page_size": lookup.page_size, "page_number": 1, "total_count": 0},
    }
    if lookup.locale:
        answer["locale"] = lookup.locale
    message: dict[str, Any] = {
        "transaction_id": str(envelope.message["transaction_id"])[:99],
        "correlation_id": correlation_id,
        "search_response": [answer],
    }
    statement = _statement(caller, lookup.attribute)
    async with statements() as connection:
        rows = await connection.fetch(
            statement.sql,
            *statement.parameters(
                value=lookup.value,
                size=lookup.page_size,
                id=uuid.uuid4(),
                sender_id=envelope.sender_id,
                message_id=envelope.message_id,
                transaction_id=message["transaction_id"],
                correlation_id=correlation_id,
                reference_ids=[lookup.reference_id],
                response=orjson.dumps(without_records(message)).decode(),
                request_id=caller.request_id,
            ),
        )
    if not rows:
        raise DciRejection(
            reasons.MESSAGE_ID_DUPLICATE,
            "This sender sent a message with this message_id before.",
        )
    found = [row for row in rows if row["id"] is not None]
    unmasked = caller.has(PII_SCOPE)
    answer["data"] = {
        "version": "1.0.0",
        "reg_type": search.REG_TYPE,
        "reg_record_type": search.GROUP,
        "reg_records": [
            group_fields(
                Attributes(row),
                [Attributes(member) for member in _json(row["members"])],
                [Attributes(e) for e in _json(row["enrollments"])],
                unmasked=unmasked,
            )
            for row in found
        ],
    }
    answer["pagination"]["total_count"] = int(found[0]["total"]) if found else 0
    return message
