"""The committed contracts and the GraphQL schema's own rules."""

from __future__ import annotations

from strawberry.types import get_object_definition

from api.contracts import OUT_DIR, graphql_sdl, openapi_document
from api.graphql.schema import Mutation


def test_committed_contracts_match_the_code() -> None:
    # Run `make contracts` and commit openapi/ when this fails.
    assert (OUT_DIR / "openapi.json").read_text() == openapi_document()
    assert (OUT_DIR / "schema.graphql").read_text() == graphql_sdl()


def test_every_mutation_declares_its_permission() -> None:
    fields = get_object_definition(Mutation, strict=True).fields
    assert fields
    assert [field.python_name for field in fields if not field.permission_classes] == []
