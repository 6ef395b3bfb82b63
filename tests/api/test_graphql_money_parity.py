"""The money operations REST has, through GraphQL: batches with REST's per-item refusals, a
settlement file uploaded by the GraphQL multipart request spec, and a payment's history; each
read back through REST, and refused with the code REST's problem carries."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from service.disbursements.reconciliation import MAX_BYTES
from tests.api.graphql_calls import error_code, gql
from tests.factories import (
    ClientFactory,
    IssuedClient,
    disbursement_body,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
    reconciliation_csv,
)

BATCH = """mutation($k: String!, $items: [DisbursementCreateInput!]!) {
    createDisbursementBatch(idempotencyKey: $k, items: $items) {
        received created refused amountCreated
        items { index status id error { code field } }
    }
}"""


def _gql_item(body: dict[str, Any]) -> dict[str, Any]:
    names = {
        "allocation_id": "allocationId",
        "recipient_kind": "recipientKind",
        "recipient_id": "recipientId",
        "external_reference": "externalReference",
    }
    return {names.get(name, name): value for name, value in body.items()}


async def test_batch_with_rests_refusals_and_key(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=5_000_000)
    one, two, three = await insert_families(session, "33.28.02.2001", 3)
    items = [
        disbursement_body(allocation["id"], one),
        disbursement_body(allocation["id"], two, amount=-1),
        disbursement_body(allocation["id"], three, amount=4_000_000),  # past what is left
    ]
    key = str(uuid.uuid4())
    result = await gql(http, office, BATCH, k=key, items=[_gql_item(i) for i in items])
    batch = result["data"]["createDisbursementBatch"]
    assert (batch["received"], batch["created"], batch["refused"], batch["amountCreated"]) == (
        3,
        1,
        2,
        2_500_000,
    )
    created, negative, exhausted = batch["items"]
    assert [(i["status"], i["error"]) for i in (negative, exhausted)] == [
        ("refused", {"code": "greater_than_equal", "field": "amount"}),
        ("refused", {"code": "allocation_exhausted", "field": "amount"}),
    ]
    read = await http.get(f"/api/v1/disbursements/{created['id']}", headers=office.headers)
    assert (read.json()["recipient_id"], read.json()["amount"]) == (one, 2_500_000)

    # The key is REST's too: the same items through REST answer the stored result.
    replayed = await http.post(
        "/api/v1/disbursements/batches",
        json={"items": items},
        headers=money_headers(office, key),
    )
    assert replayed.status_code == 200, replayed.text
    assert [i["id"] for i in replayed.json()["items"]] == [created["id"], None, None]
    reused = await gql(http, office, BATCH, k=key, items=[_gql_item(items[0])])
    assert error_code(reused) == "idempotency_key_reused"
    empty = await gql(http, office, BATCH, k=str(uuid.uuid4()), items=[])
    assert error_code(empty) == "validation_failed"
    assert empty["errors"][0]["extensions"]["errors"][0]["field"] == "items"


RECONCILE = """mutation($k: String!, $file: Upload!) {
    reconcileDisbursements(idempotencyKey: $k, file: $file) {
        lines settled confirmed failed unchanged mismatched mismatches { line reference code }
    }
}"""


async def _upload(
    http: httpx.AsyncClient, client: IssuedClient | None, key: str, content: bytes
) -> httpx.Response:
    """The GraphQL multipart request spec: the operation, a map, then the file."""
    return await http.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": RECONCILE, "variables": {"k": key, "file": None}}),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": ("settlement.csv", content, "text/csv")},
        headers=client.headers if client is not None else {},
    )


async def _sent(
    http: httpx.AsyncClient, client: IssuedClient, allocation_id: str, family: str, ref: str
) -> dict[str, Any]:
    created = await new_disbursement(http, client, allocation_id, family)
    sent = await move_disbursement(http, client, created["id"], "sent", external_reference=ref)
    assert sent.status_code == 200, sent.text
    return dict(sent.json())


async def test_settlement_file_upload(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=100_000_000)
    paid_family, bounced_family = await insert_families(session, "33.28.02.2001", 2)
    refs = [f"GQL-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    paid = await _sent(http, office, allocation["id"], paid_family, refs[0])
    bounced = await _sent(http, office, allocation["id"], bounced_family, refs[1])
    content = reconciliation_csv(
        [
            (refs[0], "confirmed", 2_500_000, "2026-02-03"),
            (refs[1], "failed", 2_500_000, "2026-02-03"),
            (refs[2], "confirmed", 2_500_000, "2026-02-03"),
        ]
    )
    key = str(uuid.uuid4())
    answer = await _upload(http, office, key, content)
    assert answer.status_code == 200, answer.text
    result = answer.json()["data"]["reconcileDisbursements"]
    assert (result["lines"], result["settled"], result["confirmed"], result["failed"]) == (
        3,
        2,
        1,
        1,
    )
    assert result["mismatches"] == [{"line": 4, "reference": refs[2], "code": "unknown_reference"}]
    for payment, status in ((paid, "confirmed"), (bounced, "failed")):
        read = await http.get(f"/api/v1/disbursements/{payment['id']}", headers=office.headers)
        assert read.json()["status"] == status
    # REST's key: the same file through REST is answered from the stored result.
    replayed = await http.post(
        "/api/v1/disbursements/reconciliations",
        content=content,
        headers=money_headers(office, key),
    )
    assert replayed.json()["settled"] == 2

    other = await _upload(http, office, key, content + b"\n")
    assert error_code(other.json()) == "idempotency_key_reused"
    not_a_file = await gql(http, office, RECONCILE, k=str(uuid.uuid4()), file="a,b\n")
    assert error_code(not_a_file) == "validation_failed"
    assert not_a_file["errors"][0]["extensions"]["errors"][0]["field"] == "file"


async def test_an_upload_without_a_token_reaches_nothing(http: httpx.AsyncClient) -> None:
    """A browser posts a multipart form cross-site without asking first (CSRF); it cannot add
    the bearer token, and without one an upload settles nothing."""
    answer = await _upload(http, None, str(uuid.uuid4()), b"reference,status,amount,date\n")
    # Refused before the form is parsed: REST's 401 problem, not a GraphQL answer.
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


OPERATION = json.dumps({"query": RECONCILE, "variables": {"k": "key", "file": None}})


@pytest.mark.parametrize(
    ("operations", "files_map"),
    [
        ("{nope", "{}"),  # not JSON
        (json.dumps({"query": RECONCILE, "variables": {"file": None}}), "[1]"),  # not a map
        (json.dumps({"query": RECONCILE, "variables": {"file": None}}), '{"0": ["variables.x.y"]}'),
        (
            json.dumps({"query": RECONCILE, "variables": {"file": None}}),
            '{"9": ["variables.file"]}',
        ),
        (json.dumps([1, 2]), '{"0": ["0.variables.file"]}'),
    ],
)
async def test_a_malformed_multipart_form_is_a_400(
    http: httpx.AsyncClient, clients: ClientFactory, operations: str, files_map: str
) -> None:
    office = await clients(region="33.28")
    answer = await http.post(
        "/graphql",
        data={"operations": operations, "map": files_map},
        files={"0": ("settlement.csv", b"reference,status,amount,date\n", "text/csv")},
        headers=office.headers,
    )
    assert answer.status_code == 400, answer.text


async def test_settlement_file_over_the_limit(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    too_large = await _upload(http, office, str(uuid.uuid4()), b"x" * (MAX_BYTES + 1))
    assert error_code(too_large.json()) == "content_too_large"
    # (A multipart body past the largest file /graphql takes, an import roll's 200 MB, is
    # refused before it is read: tests/api/test_graphql_imports_parity.py.)


HISTORY = """query($d: UUID!) { disbursement(id: $d) {
    transitions { fromStatus toStatus note externalReference actor byClient }
} }"""


async def test_history_reads_as_rest(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", name="Bendahara Tegal")
    allocation = await new_allocation(http, office)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    payment = await _sent(http, office, allocation["id"], family, f"GQL-{uuid.uuid4().hex[:12]}")
    read = await gql(http, office, HISTORY, d=payment["id"])
    rest = await http.get(
        f"/api/v1/disbursements/{payment['id']}/transitions", headers=office.headers
    )
    assert [
        (t["fromStatus"], t["toStatus"], t["note"], t["externalReference"], t["actor"])
        for t in read["data"]["disbursement"]["transitions"]
    ] == [
        (t["from_status"], t["to_status"], t["note"], t["external_reference"], t["actor"])
        for t in rest.json()
    ]
    assert [t["toStatus"] for t in read["data"]["disbursement"]["transitions"]] == [
        "scheduled",
        "sent",
    ]
    outsider = await clients(region="33.29")
    assert error_code(await gql(http, outsider, HISTORY, d=payment["id"])) == "not_found"


async def test_histories_of_a_page_are_one_query(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    """The histories of a page of disbursements come through one DataLoader query: as many for
    three payments as for one."""
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    one, two, three = await insert_families(session, "33.28.02.2001", 3)
    first = await new_disbursement(http, office, allocation["id"], one)
    for family in (two, three):
        await new_disbursement(http, office, allocation["id"], family)
    query = """query($f: DisbursementFilterInput) { disbursements(filter: $f, limit: 50) {
        items { transitions { toStatus } } } }"""

    async def histories_read(filter: dict[str, str]) -> tuple[int, int]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, office, query, f=filter)
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        items = result["data"]["disbursements"]["items"]
        return len(items), len([s for s in seen if "FROM disbursement_transition" in s])

    assert await histories_read({"recipientId": first["recipient_id"]}) == (1, 1)
    assert await histories_read({"allocationId": allocation["id"]}) == (3, 1)
