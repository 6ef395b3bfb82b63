"""``txn/status`` with odd input and many matches: a transaction_id that is no text (or too
long) refuses the message; when more than 100 earlier transactions match, the latest is the one
reported."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.dci.messages import header, send
from tests.factories import ClientFactory


def status_request(transaction_id: Any, value: str) -> dict[str, Any]:
    return {
        "header": header("txn-status", 1),
        "message": {
            "transaction_id": transaction_id,
            "txnstatus_request": {
                "reference_id": "status-ref-1",
                "txn_type": "search",
                "attribute_type": "transaction_id",
                "attribute_value": value,
            },
        },
    }


@pytest.mark.parametrize("transaction_id", [["a"], {"a": 1}, None, True, "", "x" * 100, 1.5])
async def test_a_transaction_id_that_is_no_short_text_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory, transaction_id: Any
) -> None:
    reader = await clients(region="33.26.06", scopes=["kpm:read"])
    body = status_request(transaction_id, "anything")
    answer = await send(http, "/registry/sync/txn/status", body, reader, check_request=False)
    assert answer.status == 200
    assert answer.header["status"] == "rjct"
    assert "transaction_id" in answer.header["status_reason_message"]
    assert "message" not in answer.body


async def test_the_latest_of_many_matching_transactions_is_reported(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    reader = await clients(region="33.26.06", scopes=["kpm:read"])
    await session.execute(
        text(
            "INSERT INTO dci_transaction (client_id, sender_id, message_id, transaction_id,"
            " action, correlation_id, status, reference_ids, created_at, updated_at)"
            " SELECT :client, 'sidesa.example.org', 'many-' || n, 'many-txn', 'search',"
            "        'corr-many-' || n, 'succ', ARRAY['ref-' || n],"
            "        now() - make_interval(mins => 200 - n), now() - make_interval(mins => 200 - n)"
            "   FROM generate_series(1, 150) AS n"
        ),
        {"client": reader.client_id},
    )
    await session.flush()
    answer = await send(
        http, "/registry/sync/txn/status", status_request("t-1", "many-txn"), reader
    )
    status = answer.body["message"]["txnstatus_response"]["txn_status"]
    assert status["correlation_id"] == "corr-many-150"
    references = [item["reference_id"] for item in status["search_response"]]
    assert references == [f"ref-{n}" for n in range(51, 151)]
