"""From GraphQL inputs to the wire models of schemas/: what the resolvers of several domains
share."""

from __future__ import annotations

import strawberry


def sent_fields(data: object) -> dict[str, object]:
    """Only the fields the client sent, enums as their values: the shape of a REST PATCH body."""
    sent: dict[str, object] = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET:
            continue
        sent[name] = value.value if hasattr(value, "value") else value
    return sent
