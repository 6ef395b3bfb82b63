"""What the region matrices really asked.

A matrix test sends the requests of the caller under test through its ``probe`` client, and each
one is recorded here: a REST request as (method, route template) of the route that serves it, a
GraphQL request as (operation, top-level field) of every field it selects. The coverage checks
compare the app's operations and schema with these records, so only a request that was made
counts, never a path that merely appears in a test's source.

Which matrix tests a run holds is kept too, so that a check on a run that did not hold the
whole matrix (``-k``, one file, ``--lf``) skips and says why instead of passing on too little.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default

import httpx
import pytest
from graphql import FieldNode, OperationDefinitionNode, parse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

PROBE_FIXTURE = "probe"
COVERAGE_MARK = "region_coverage"


@dataclass
class ProbeRecord:
    rest: set[tuple[str, str]] = field(default_factory=set)
    graphql: set[tuple[str, str]] = field(default_factory=set)
    unmatched: set[tuple[str, str]] = field(default_factory=set)
    collected: set[str] = field(default_factory=set)  # node ids of the matrix tests selected
    deselected: set[str] = field(default_factory=set)
    ran: set[str] = field(default_factory=set)

    def modules(self) -> set[str]:
        return {node_id.split("::")[0] for node_id in self.collected | self.deselected}

    def add_served(self, scope: Scope) -> None:
        """The route that served a request: the router leaves it in the request's scope."""
        route = scope.get("route")
        if isinstance(route, Route):
            self.rest.add((scope["method"], route.path_format))
        else:
            self.unmatched.add((scope["method"], scope["path"]))

    def add_sent(self, request: httpx.Request) -> None:
        if request.url.path == "/graphql":
            document = sent_document(request)
            if document is not None:
                self.graphql |= selected_fields(document)


def recording(app: ASGIApp, record: ProbeRecord) -> ASGIApp:
    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            record.add_served(scope)

    return recorded


def sent_document(request: httpx.Request) -> str | None:
    """The GraphQL document of a request: the JSON body's, or a multipart upload's (the GraphQL
    multipart request spec) `operations` part's."""
    content = request.read()
    if not content:
        return None
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return str(json.loads(content)["query"])
    form = BytesParser(policy=default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + content
    )
    for part in form.iter_parts():
        if part.get_param("name", header="content-disposition") == "operations":
            return str(json.loads(part.get_content())["query"])
    return None


def selected_fields(document: str) -> set[tuple[str, str]]:
    """(operation, field) of each top-level field the document selects."""
    return {
        (definition.operation.value, selection.name.value)
        for definition in parse(document).definitions
        if isinstance(definition, OperationDefinitionNode)
        for selection in definition.selection_set.selections
        if isinstance(selection, FieldNode)
    }


RECORD_KEY = pytest.StashKey[ProbeRecord]()


def record_of(config: pytest.Config) -> ProbeRecord:
    if RECORD_KEY not in config.stash:
        config.stash[RECORD_KEY] = ProbeRecord()
    return config.stash[RECORD_KEY]


def note_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    record = record_of(config)
    record.collected |= {i.nodeid for i in items if PROBE_FIXTURE in getattr(i, "fixturenames", ())}


def note_deselected(config: pytest.Config, items: list[pytest.Item]) -> None:
    record = record_of(config)
    matrix = {i.nodeid for i in items if PROBE_FIXTURE in getattr(i, "fixturenames", ())}
    record.deselected |= matrix
    record.collected -= matrix


def coverage_checks_last(items: list[pytest.Item]) -> None:
    """The coverage checks read what the matrix recorded, so they run after all of it."""
    checks = [i for i in items if i.get_closest_marker(COVERAGE_MARK)]
    items[:] = [i for i in items if not i.get_closest_marker(COVERAGE_MARK)] + checks


def complete_record(config: pytest.Config, matrix_modules: set[str]) -> ProbeRecord:
    """The record of this run, or a skip naming what of the matrix this run did not hold."""
    record = record_of(config)
    missing = sorted(matrix_modules - record.modules())
    if missing:
        pytest.skip(f"the region matrix is not in this run: {', '.join(missing)} not collected")
    if record.deselected:
        pytest.skip(f"the region matrix is not in this run: {len(record.deselected)} deselected")
    not_run = sorted(record.collected - record.ran)
    if not_run:
        pytest.skip(f"the region matrix did not run in full: {', '.join(not_run[:3])}...")
    unknown = record.modules() - matrix_modules
    assert unknown == set(), f"matrix tests outside the declared matrix modules: {unknown}"
    return record
