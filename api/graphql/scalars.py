"""Scalars of our own. GraphQL's Int is 32-bit and rupiah amounts go past it (Rp2.1 billion),
so money is a scalar that carries the whole 64-bit integer."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

Rupiah = NewType("Rupiah", int)


def _whole_rupiah(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Rupiah is a whole number.")
    return value


SCALARS: dict[object, ScalarDefinition] = {
    Rupiah: strawberry.scalar(
        name="Rupiah",
        description="A whole number of rupiah (64-bit); never a fraction.",
        serialize=int,
        parse_value=_whole_rupiah,
    )
}
