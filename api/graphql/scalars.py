"""Scalars of our own. GraphQL's Int is 32-bit and rupiah amounts go past it (Rp2.1 billion),
so money is a scalar that carries the whole 64-bit integer."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import GraphQLError, IntValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

Rupiah = NewType("Rupiah", int)

NOT_RUPIAH = "Rupiah is a whole number (no fraction, not a string)."


def _whole_rupiah(value: Any) -> int:
    # A GraphQLError, not a ValueError: a bad amount is the client's mistake (400), not ours.
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(NOT_RUPIAH)
    return value


def _whole_rupiah_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    if not isinstance(node, IntValueNode):
        raise GraphQLError(NOT_RUPIAH)
    return int(node.value)


SCALARS: dict[object, ScalarDefinition] = {
    Rupiah: strawberry.scalar(
        name="Rupiah",
        description="A whole number of rupiah (64-bit); never a fraction.",
        serialize=int,
        parse_value=_whole_rupiah,
        parse_literal=_whole_rupiah_literal,
    )
}
