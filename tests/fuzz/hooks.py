"""Schemathesis extensions for this service, loaded by `st run` (``hooks`` in schemathesis.toml).

- ``filter_failure``: what Schemathesis would call a failure and is not, let through one kind
  at a time, each with its reason (mostly refusals of schema-valid data for rules no schema can
  state); anything else still fails the run.
- Strategies for the GraphQL scalars Schemathesis cannot know: ``Rupiah`` (a whole number of
  rupiah) and ``Upload`` (a file of a multipart request, which a JSON request cannot carry).
"""

from __future__ import annotations

import os
import re
import typing
from typing import Any

import schemathesis
from hypothesis import strategies as st
from pydantic_core import core_schema
from schemathesis.graphql import nodes

# The codes of Pydantic's own refusals: what the request types, and so the schema, state. A
# 422 with any of these for data valid by the schema means the two disagree: a defect.
_SCHEMA_CODES = set(typing.get_args(core_schema.ErrorType)) - {
    # `2000.0` is an integer to JSON Schema; whole-number fields refuse it, and are marked
    # `x-strict-integer` (their 422 lists `int_type` in `x-problem-codes`).
    "int_type",
}
# Schemathesis' stateful phase infers links that copy a request's Idempotency-Key header into
# the next request's body, where no such field exists: not a refusal of the data it generated.
_LINK_ARTEFACT = ("Idempotency-Key", "extra_forbidden")


def _problem(response: schemathesis.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refused_beyond_the_schema(response: schemathesis.Response) -> bool:
    """A refusal of data that is valid by the schema, for a reason no schema can state."""
    problem = _problem(response)
    # An If-Match made up by the fuzzer is not the record's ETag, and a condition that does not
    # hold is a 412 (RFC 9110 13.1.1).
    if response.status_code == 412:
        return problem.get("code") == "version_mismatch"
    if response.status_code != 422:
        return False
    # PostgreSQL text cannot hold U+0000, which a JSON string or a query may carry: such a
    # value is refused as `invalid_value`, whatever its field.
    if problem.get("code") == "invalid_value":
        return True
    # The service's own rules, each a field code of its own (listed in the README and the
    # operation's description or `x-problem-codes`): an id naming no record the caller can see
    # (`unknown_allocation`: a body id the caller cannot see is a 422 naming the field), a
    # cursor this API did not give, a code that is no region of the tree or of the wrong level,
    # a NIK whose region or birth date does not fit, rules across fields (`missing_head`),
    # items (`duplicate_family`) or requests (`idempotency_key_reused`), a webhook target
    # refused by the operator's settings, the content of an upload (`missing_column`).
    codes = {
        error.get("code")
        for error in problem.get("errors") or []
        if (error.get("field"), error.get("code")) != _LINK_ARTEFACT
    }
    return not codes & _SCHEMA_CODES


def _graphql_refusals(response: schemathesis.Response) -> bool:
    """Schemathesis counts a GraphQL error with a ``path`` (raised in a resolver) as a server
    error unless it carries an Apollo or graphql-java label. This service labels every GraphQL
    error with the HTTP status REST would answer (``extensions.status``; an unexpected exception
    is ``internal_error``, 500), so a refusal (404 ``not_found``, 422 ``validation_failed``) is
    told from a failure by that status."""
    errors = _problem(response).get("errors") or []
    statuses = [(error.get("extensions") or {}).get("status") for error in errors]
    return bool(statuses) and all(isinstance(s, int) and s < 500 for s in statuses)


def _made_valid_by_our_ids(failure: Any, case: schemathesis.Case[Any]) -> bool:
    """Schemathesis took a path parameter as made invalid, but the configured id of a real
    record (schemathesis.toml, ``[parameters]``) replaced it: the request it sent was valid."""
    named = re.search(r"parameter `(\w+)` in path", failure.message or "")
    if named is None:
        return False
    ours = {"PKH"} | {
        value
        for name, value in os.environ.items()
        if name.startswith("DINSOS_FUZZ_") and name.endswith(("_ID", "_CODE"))
    }
    return str((case.path_parameters or {}).get(named.group(1))) in ours


def _value_at(body: Any, field: str) -> Any:
    for part in field.split("."):
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def _too_short_once_trimmed(problem: dict[str, Any], case: schemathesis.Case[Any]) -> bool:
    """Text fields are trimmed of surrounding whitespace before their length is checked (the
    request models' ``str_strip_whitespace``), so "N" and a vertical tab is one character, not
    the two a schema's ``minLength`` counts; a schema cannot say which characters are trimmed."""
    errors = problem.get("errors") or []
    for error in errors:
        value = _value_at(case.body, str(error.get("field")))
        if error.get("code") != "string_too_short" or not isinstance(value, str):
            return False
        if value == value.strip():
            return False
    return bool(errors)


def _refused_item_by_item(case: schemathesis.Case[Any], response: schemathesis.Response) -> bool:
    """A batch answers 200 and refuses each bad item on its own, with its field and code (the
    batch's contract: one bad payment must not hold back the others), where a single payment
    would answer 422."""
    if case.operation.label != "POST /api/v1/disbursements/batches":
        return False
    if response.status_code != 200:
        return False
    return int(_problem(response).get("refused") or 0) > 0


def _refused_by_the_cost_limit(response: schemathesis.Response) -> bool:
    # GraphQL cannot state an argument's range: `limit: 88906` is an Int, refused by the
    # documented cost limit (DINSOS_GRAPHQL_MAX_COST) before it runs.
    errors = _problem(response).get("errors") or []
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    return codes == {"query_too_costly"}


def _refused_in_the_dci_protocol(
    case: schemathesis.Case[Any], response: schemathesis.Response
) -> bool:
    """The DCI door answers a message it cannot take inside its own protocol, with HTTP 200 and
    the spec's refusal, as the DCI Social Registry spec's default response says (issue 9: "HTTP
    4xx only where the spec says so"): an acknowledgement with ``ack_status: ERR``, or a header
    or a request item with ``status: rjct`` and its reason code. Its asynchronous operations
    acknowledge a well-formed envelope (``ACK``) and send a request item's refusal in the
    callback, as the spec's asynchronous flow does."""
    if not case.operation.path.startswith("/dci/registry/") or response.status_code != 200:
        return False
    body = _problem(response)
    message = body.get("message")
    message = message if isinstance(message, dict) else {}
    if message.get("ack_status") in ("ERR", "ACK"):
        return True
    header = body.get("header")
    header = header if isinstance(header, dict) else {}
    if header.get("status") == "rjct":
        return True
    items = [
        item
        for value in message.values()
        if isinstance(value, list)
        for item in value
        if isinstance(item, dict)
    ]
    return bool(items) and any(item.get("status") == "rjct" for item in items)


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Any,
    case: schemathesis.Case[Any],
    response: schemathesis.Response,
) -> bool:
    """False lets a failure through, for one of the reasons above."""
    if failure.code == "ST201":  # a request invalid by the schema was accepted
        return not (
            _made_valid_by_our_ids(failure, case)
            or _refused_item_by_item(case, response)
            or _refused_in_the_dci_protocol(case, response)
        )
    if failure.code == "ST202":  # a request valid by the schema was refused
        return not (
            _refused_beyond_the_schema(response)
            or _too_short_once_trimmed(_problem(response), case)
        )
    if failure.code == "ST113":  # a GraphQL answer with errors from its resolvers
        return not _graphql_refusals(response)
    if failure.code == "ST206":  # a GraphQL query valid by the schema was refused
        return not _refused_by_the_cost_limit(response)
    return True


schemathesis.graphql.scalar(
    "Rupiah", st.integers(min_value=-(2**63), max_value=2**63 - 1).map(nodes.Int)
)
# A JSON request has no file to give: the fields that take one refuse anything else with
# `validation_failed` naming the argument (their multipart form is tested in
# tests/api/test_graphql_imports_parity.py and test_graphql_money_parity.py).
schemathesis.graphql.scalar("Upload", st.text(max_size=20).map(nodes.String))
