"""Every operation and GraphQL field is in a region matrix: checked against the requests the
matrix tests really sent through their ``probe`` client (tests/region_probes.py), not against
their source text. These checks run after the whole matrix; in a run that does not hold all of
it (``-k``, a single file) they skip and say so, and never pass on what they did not see.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from api.graphql.schema import Mutation, Query
from tests.api.test_region_matrix import GRAPHQL_CASES, REST_CASES
from tests.region_probes import COVERAGE_MARK, ProbeRecord, complete_record

pytestmark = getattr(pytest.mark, COVERAGE_MARK)

# The modules whose tests send the matrix's requests through ``probe``.
MATRIX_MODULES = {
    "tests/api/test_region_matrix.py",  # families, facilitators, programs, reports, regions
    "tests/api/test_kube_access.py",
    "tests/api/test_training_access.py",
    "tests/api/test_money_access.py",  # allocations and disbursements
}

# Operations with no region-bound record, or whose region rule is proven elsewhere.
NOT_REGION_BOUND = {
    "issueToken": "authentication itself",
    "health": "no data",
    "readiness": "no data",
    "startImport": "rows outside the region are refused: test_kpm_import.py",
    # The feed hands out committed events only, which the matrix's rolled-back world is not.
    "listChanges": "proven on committed writes: test_changes.py",
    "streamChanges": "proven on committed writes: test_changes_stream.py",
    # A subscription is its client's own (another client's is 404: test_webhooks.py); which
    # changes it gets is the feed's region rule: tests/service/test_webhook_outbox_regions.py.
    "createWebhook": "owned by its client",
    "listWebhooks": "owned by its client",
    "getWebhook": "owned by its client",
    "updateWebhook": "owned by its client",
    "deleteWebhook": "owned by its client",
    "rotateWebhookSecret": "owned by its client",
    "listWebhookDeliveries": "owned by its client",
    "getWebhookDelivery": "owned by its client",
    "redeliverWebhookDelivery": "owned by its client",
    "redeliverParkedWebhookDeliveries": "owned by its client",
    # The DCI door answers 200 with the records it may show (none from elsewhere), not 404:
    # its region rule is proven in tests/dci (test_sync_search.py, test_sync_queries.py).
    "dciSyncSearch": "proven in tests/dci/test_sync_search.py",
    "dciSyncTxnStatus": "owned by its client: tests/dci/test_sync_txn_status.py",
    "dciJwks": "no data: the registry's public key",
    "dciSearch": "proven in tests/dci/test_async_search.py (the callback's records)",
    "dciTxnStatus": "owned by its client: tests/dci/test_async_search.py",
    "dciSubscribe": "which changes it gets is the feed's rule: tests/dci/test_subscriptions.py",
    "dciUnsubscribe": "owned by its client: tests/dci/test_subscriptions.py",
}


# GraphQL fields with no region-bound record (the webhook fields, as their REST operations
# above), or whose region rule is proven elsewhere.
GRAPHQL_NOT_REGION_BOUND = {
    "startImport": "rows outside the region are refused by the importer: test_kpm_import.py",
    "webhook": "owned by its client",
    "webhooks": "owned by its client",
    "webhookDeliveries": "owned by its client",
    "webhookDelivery": "owned by its client",
    "createWebhook": "owned by its client",
    "updateWebhook": "owned by its client",
    "deleteWebhook": "owned by its client",
    "rotateWebhookSecret": "owned by its client",
    "redeliverWebhookDelivery": "owned by its client",
    "redeliverParkedWebhookDeliveries": "owned by its client",
}


@pytest.fixture
def probes(request: pytest.FixtureRequest) -> ProbeRecord:
    return complete_record(request.config, MATRIX_MODULES)


def _operations(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, route template) -> operationId, for every operation in the OpenAPI document."""
    return {
        (method.upper(), path): operation["operationId"]
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
    }


def _graphql_fields() -> set[tuple[str, str]]:
    return {
        (operation, field.graphql_name or _camel(field.python_name))
        for operation, kind in (("query", Query), ("mutation", Mutation))
        for field in kind.__strawberry_definition__.fields  # type: ignore[union-attr]
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_rest_operation_is_in_a_matrix(app: FastAPI, probes: ProbeRecord) -> None:
    operations = _operations(app)
    unprobed = {
        operation_id
        for route, operation_id in operations.items()
        if route not in probes.rest and operation_id not in NOT_REGION_BOUND
    }
    assert unprobed == set(), "operations no matrix test sent a request to"
    # Nothing listed that does not exist (any more).
    known = set(operations.values())
    assert set(REST_CASES) - known == set()
    assert set(NOT_REGION_BOUND) - known == set()
    assert probes.unmatched == set(), "matrix requests that no route serves"


def test_every_graphql_field_is_in_a_matrix(probes: ProbeRecord) -> None:
    fields = _graphql_fields()
    unprobed = {
        field for field in fields - probes.graphql if field[1] not in GRAPHQL_NOT_REGION_BOUND
    }
    assert sorted(unprobed) == [], "fields no matrix test sent a request to"
    # Nothing listed that does not exist (any more).
    names = {name for _, name in fields}
    assert set(GRAPHQL_CASES) - names == set()
    assert set(GRAPHQL_NOT_REGION_BOUND) - names == set()
