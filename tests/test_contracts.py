"""The committed contracts are what the code serves: regenerate with `make contracts`."""

from __future__ import annotations

from api.contracts import OUT_DIR, graphql_sdl, openapi_document


def test_openapi_json_matches_the_code() -> None:
    committed = (OUT_DIR / "openapi.json").read_text()
    assert committed == openapi_document(), "openapi/openapi.json drifted: run `make contracts`"


def test_schema_graphql_matches_the_code() -> None:
    committed = (OUT_DIR / "schema.graphql").read_text()
    assert committed == graphql_sdl(), "openapi/schema.graphql drifted: run `make contracts`"
