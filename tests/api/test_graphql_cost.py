"""The cost of a GraphQL document, computed before it runs: page sizes summed over aliases and
multiplied through nesting (a schema of its own, since ours has no paged list inside a page)."""

from __future__ import annotations

from typing import Any

from graphql import build_schema, parse

from api.graphql.limits import operation_cost

SCHEMA = build_schema(
    """
    type Query { offices(limit: Int! = 50): OfficePage!  office: Office }
    type OfficePage { items: [Office!]! }
    type Office { name: String!  staff(limit: Int! = 10): [Person!]! }
    type Person { name: String! }
    """
)


def _cost(query: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return operation_cost(SCHEMA, parse(query), name, variables or {})


def test_page_sizes_add_up_across_aliases() -> None:
    assert _cost("{ a: offices(limit: 500) { items { name } } b: offices { items { name } } }") == (
        550
    )


def test_a_nested_page_counts_once_per_parent_row() -> None:
    # 20 offices, and up to 10 people in each: 20 + 20 x 10.
    assert _cost("{ offices(limit: 20) { items { staff { name } } } }") == 220
    assert _cost("{ offices(limit: 20) { items { staff(limit: 5) { name } } } }") == 120


def test_variables_fragments_and_the_chosen_operation_count() -> None:
    query = """
        query Small { office { name } }
        query Big($n: Int!) { ...Lists }
        fragment Lists on Query {
            offices(limit: $n) { items { ... on Office { staff { name } } } }
        }
    """
    assert _cost(query, {"n": 100}, name="Big") == 100 + 100 * 10
    assert _cost(query, {"n": 100}, name="Small") == 0
    assert _cost("query($n: Int = 7) { offices(limit: $n) { items { name } } }") == 7
