"""From GraphQL inputs to the wire models of schemas/: what the resolvers of several domains
share."""

from __future__ import annotations

import strawberry
from pydantic import BaseModel


def sent_fields(data: object) -> dict[str, object]:
    """Only the fields the client sent, enums as their values: the shape of a REST PATCH body."""
    sent: dict[str, object] = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET:
            continue
        sent[name] = value.value if hasattr(value, "value") else value
    return sent


def check_list_arguments(
    bounds: type[BaseModel], filter: object | None = None, **arguments: object
) -> None:
    """A list's filter and arguments against the bounds REST declares (schemas/filters.py), so
    both doors refuse the same values. A pydantic ValidationError, which the door renders as
    REST does: `validation_failed`, each field named."""
    bounds.model_validate({**(vars(filter) if filter is not None else {}), **arguments})
