"""Export the API contracts: ``python -m api.contracts`` writes ``openapi/openapi.json`` and
``openapi/schema.graphql`` from the code. A test fails when the committed files drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from api.app import create_app
from api.graphql.schema import build_schema
from service.settings import Settings

OUT_DIR = Path(__file__).resolve().parent.parent / "openapi"


def _settings() -> Settings:
    # The contract must not depend on the machine's environment.
    return Settings(database_url="postgresql://contract-export/none", jwt_key="x" * 32)


def openapi_document() -> str:
    return json.dumps(create_app(_settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def graphql_sdl() -> str:
    return build_schema(_settings()).as_str() + "\n"


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "openapi.json").write_text(openapi_document())
    (OUT_DIR / "schema.graphql").write_text(graphql_sdl())
    print(f"wrote {OUT_DIR / 'openapi.json'} and {OUT_DIR / 'schema.graphql'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
