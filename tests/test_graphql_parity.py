"""Every REST operation has its GraphQL field, or a reason in api/graphql/parity.py, and the
committed parity table (openapi/parity.md) is what that list and the code make of it."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLObjectType

from api.contracts import OUT_DIR, _settings, openapi_document, parity_table, rest_operations
from api.graphql.parity import GRAPHQL_FIELDS, NOT_YET, WITHOUT_GRAPHQL
from api.graphql.schema import build_schema

LISTS = {"GRAPHQL_FIELDS": GRAPHQL_FIELDS, "WITHOUT_GRAPHQL": WITHOUT_GRAPHQL, "NOT_YET": NOT_YET}


@pytest.fixture(scope="module")
def operation_ids() -> set[str]:
    return {operation_id for *_, operation_id in rest_operations(json.loads(openapi_document()))}


def test_every_rest_operation_has_a_graphql_field_or_a_reason(operation_ids: set[str]) -> None:
    listed = set(GRAPHQL_FIELDS) | set(WITHOUT_GRAPHQL) | set(NOT_YET)
    assert sorted(operation_ids - listed) == [], "REST operations with no line in parity.py"


def test_parity_names_only_operations_that_exist(operation_ids: set[str]) -> None:
    for name, listed in LISTS.items():
        assert sorted(set(listed) - operation_ids) == [], f"{name} names unknown operations"


def test_an_operation_is_in_one_list_only() -> None:
    names = list(LISTS)
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            both = set(LISTS[first]) & set(LISTS[second])
            assert sorted(both) == [], f"in both {first} and {second}"


def test_every_mapped_field_exists_in_the_schema() -> None:
    schema = build_schema(_settings())._schema
    absent = []
    for operation_id, target in GRAPHQL_FIELDS.items():
        type_name, _, field = target.partition(".")
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType) or field not in graphql_type.fields:
            absent.append(f"{operation_id} -> {target}")
    assert absent == [], "fields the GraphQL schema does not have"


def test_parity_md_matches_the_code() -> None:
    committed = (OUT_DIR / "parity.md").read_text()
    assert committed == parity_table(), "openapi/parity.md drifted: run `make contracts`"
