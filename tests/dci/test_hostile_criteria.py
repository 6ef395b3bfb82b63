"""Whatever JSON a sender puts where the search expects a text, a number or an object, the answer
is a refusal with the spec's reason code, never a 500: every field of a search_criteria (and of a
subscription's filter, the same language) gets values of every wrong type; envelopes nested
deeper than anyone writes are refused before anything walks them; moments whose UTC time leaves
the years PostgreSQL holds are refused in the query."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.dci.notify import check_filter
from service.dci.reasons import DciRejection
from service.dci.search import order_of, page_of, translate
from tests.dci.messages import by_expression, by_id, search, search_item, send
from tests.factories import ClientFactory, IssuedClient

NIK = "3326064101900007"
WRONG: list[Any] = [[], {}, None, 0, -1, 1.5, True, "x", "", [[]], {"a": []}, [1, "a"], 10**30]

EXPRESSION = {
    "type": "expression",
    "value": {
        "expression": {
            "collection": "Group",
            "query": {
                "$and": [
                    {"desil": {"$lte": 4}},
                    {"village_code": {"$in": ["33.26.05.2001"]}},
                    {"$not": {"verification_status": "eligible"}},
                ]
            },
        }
    },
}
PREDICATE = [
    {
        "seq_num": 1,
        "expression1": {"attribute_name": "desil", "operator": "le", "attribute_value": 4},
        "condition": "and",
        "expression2": {"attribute_name": "sex", "operator": "eq", "attribute_value": "female"},
    },
    {
        "seq_num": 2,
        "expression1": {"attribute_name": "updated_at", "operator": "gt",
                        "attribute_value": "2020-01-01T00:00:00Z"},
    },
]  # fmt: skip
CRITERIA = [
    {"query_type": "expression", "query": EXPRESSION, "response_entity": "Group",
     "sort": [{"attribute_name": "desil", "sort_order": "asc"}],
     "pagination": {"page_size": 10, "page_number": 1}},
    {"query_type": "predicate", "query": PREDICATE, "reg_record_type": "Member"},
    {"query_type": "idtype-value", "query": {"type": "NIK", "value": NIK}},
]  # fmt: skip


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every object member, list item and key in ``node``."""
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(node)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


def _variants() -> Iterator[dict[str, Any]]:
    for criteria in CRITERIA:
        for path in _paths(criteria):
            for value in WRONG:
                yield _replaced(criteria, path, value)
    # Keys of the wrong kind: an operator where an attribute goes, an attribute where an
    # operator goes, values as keys.
    yield {"query_type": "expression", "query": {"desil": {"desil": 1}}}
    yield {"query_type": "expression", "query": {"$eq": {"$eq": 1}}}
    yield {"query_type": "expression", "query": {"$not": []}}


def _answer_of(criteria: dict[str, Any]) -> str:
    """ "ok" when the criteria translate, else the reason code; anything else fails the test."""
    try:
        entity, _ = translate(criteria)
        order_of(criteria.get("sort"), entity)
        page_of(criteria.get("pagination"))
    except DciRejection as refusal:
        return refusal.code
    return "ok"


def test_wrong_types_anywhere_in_the_criteria_are_refused_with_a_code() -> None:
    codes = {_answer_of(criteria) for criteria in _variants()}
    assert codes <= {
        "ok",
        "rjct.search_criteria.invalid",
        "rjct.sort.invalid",
        "rjct.pagination.invalid",
        "rjct.search.too_many_records_found",
    }
    assert "rjct.search_criteria.invalid" in codes


def _filter_answer(criteria: dict[str, Any]) -> str:
    try:
        check_filter(criteria["query_type"], criteria.get("query"))
    except DciRejection as refusal:
        return refusal.code
    return "ok"


def test_wrong_types_in_a_subscription_filter_are_refused_with_a_code() -> None:
    codes = {
        _filter_answer(criteria)
        for criteria in _variants()
        if criteria.get("query_type") in ("expression", "predicate")
    }
    assert codes == {"ok", "rjct.search_criteria.invalid"}


@pytest.fixture
async def reader(clients: ClientFactory) -> IssuedClient:
    return await clients(region="33.26.06", scopes=["kpm:read"])


def _predicate(*expressions: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    return [{"expression1": expression, **fields} for expression in expressions]


DESIL = {"attribute_name": "desil", "operator": "eq", "attribute_value": 1}


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (search_item("predicate", _predicate({**DESIL, "operator": []})),
         "rjct.search_criteria.invalid"),
        (search_item("predicate", _predicate({**DESIL, "attribute_name": {}})),
         "rjct.search_criteria.invalid"),
        (search_item("predicate", [{"seq_num": "a", "expression1": DESIL},
                                   {"seq_num": 1, "expression1": DESIL}]),
         "rjct.search_criteria.invalid"),
        (search_item("expression", {"type": "expression",
                                    "value": {"expression": {"collection": [], "query": {}}}}),
         "rjct.search_criteria.invalid"),
        (by_expression({"desil": {"$eq": []}}), "rjct.search_criteria.invalid"),
        (by_id("NIK", NIK, sort=[{"attribute_name": [], "sort_order": "asc"}]),
         "rjct.sort.invalid"),
        (by_id("NIK", NIK, sort=[{"attribute_name": "desil", "sort_order": {}}]),
         "rjct.sort.invalid"),
        (by_expression({"updated_at": {"$lt": "9999-12-31T23:59:59-23:59"}}),
         "rjct.search_criteria.invalid"),
        (by_expression({"created_at": {"$gt": "0001-01-01T00:00:00+23:59"}}),
         "rjct.search_criteria.invalid"),
    ],
)  # fmt: skip
async def test_a_value_of_the_wrong_type_is_refused_by_its_reference(
    http: httpx.AsyncClient, reader: IssuedClient, item: dict[str, Any], code: str
) -> None:
    good = by_id("NIK", NIK)
    answer = await send(
        http, "/registry/sync/search", search(item, good), reader, check_request=False
    )
    refused, answered = answer.items
    assert (refused["status"], refused["status_reason_code"]) == ("rjct", code)
    assert answered["status"] == "succ"


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"desil": 1}
    for _ in range(depth):
        node = {"$not": node}
    return node


@pytest.mark.parametrize("depth", [40, 900])
async def test_an_envelope_nested_too_deep_is_a_bad_request(
    http: httpx.AsyncClient, reader: IssuedClient, depth: int
) -> None:
    body = search(by_expression(_nested(depth)))
    answer = await send(http, "/registry/sync/search", body, reader, check_request=False)
    assert answer.status == 403
    assert answer.body["errors"][0]["code"] == "err.request.bad"


async def test_a_signed_envelope_nested_too_deep_is_refused_before_its_signature(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    body = {**search(by_expression(_nested(900))), "signature": "Signature: nothing"}
    answer = await send(http, "/registry/sync/search", body, reader, check_request=False)
    assert (answer.status, answer.body["errors"][0]["code"]) == (403, "err.request.bad")


async def test_a_query_nested_deeper_than_8_within_the_envelope_limit_is_a_criteria_refusal(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    answer = await send(http, "/registry/sync/search", search(by_expression(_nested(12))), reader)
    assert answer.items[0]["status_reason_code"] == "rjct.search_criteria.invalid"


def test_a_query_nested_thousands_deep_is_refused_without_recursing() -> None:
    deep: Any = {"desil": 1}
    for _ in range(5000):
        deep = {"$and": [deep]}
    with pytest.raises(DciRejection) as refused:
        translate({"query_type": "expression", "query": deep})
    assert refused.value.code == "rjct.search_criteria.invalid"


@pytest.mark.parametrize("value", WRONG)
async def test_wrong_types_in_a_lookup_by_identifier_are_refused_not_failed(
    http: httpx.AsyncClient, reader: IssuedClient, value: Any
) -> None:
    base = by_id("NIK", NIK)
    for path in _paths(base["search_criteria"]):
        item = {**base, "search_criteria": _replaced(base["search_criteria"], path, value)}
        answer = await send(
            http, "/registry/sync/search", search(item), reader, check_request=False
        )
        assert answer.status == 200, (path, value)
        assert answer.items[0]["status"] in ("succ", "rjct")
    for name in ("transaction_id", "reference_id", "timestamp"):
        body = search(by_id("NIK", NIK))
        target = (
            body["message"] if name == "transaction_id" else body["message"]["search_request"][0]
        )
        target[name] = value
        answer = await send(http, "/registry/sync/search", body, reader, check_request=False)
        assert answer.status == 200, (name, value)


async def test_a_message_ts_outside_the_calendar_in_utc_is_refused(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    body = search(by_id("NIK", NIK), message_ts="0001-01-01T00:00:00+23:59")
    answer = await send(http, "/registry/sync/search", body, reader, check_request=False)
    assert answer.header["status_reason_code"] == "rjct.message_ts.invalid"
