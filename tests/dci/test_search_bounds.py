"""How much one search may cost: a query matching more records than can be paged is refused
(``rjct.search.too_many_records_found``; the count stops there, it never counts a million), one
matching fewer is counted exactly; the page sizes of one message's requests are bounded in all."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.dci.search import MAX_OFFSET
from tests.dci.messages import by_expression, search, send
from tests.factories import ClientFactory, IssuedClient, insert_families

VILLAGE = "33.26.05.2077"
SMALL_VILLAGE = "33.26.05.2078"


@pytest.fixture
async def reader(clients: ClientFactory) -> IssuedClient:
    return await clients(region="33.26.05", scopes=["kpm:read"])


async def test_a_query_matching_more_than_can_be_paged_is_refused(
    http: httpx.AsyncClient, session: AsyncSession, reader: IssuedClient
) -> None:
    half = MAX_OFFSET // 2 + 1
    await insert_families(session, VILLAGE, half)
    await insert_families(session, VILLAGE, half)
    await insert_families(session, SMALL_VILLAGE, 3)
    await session.flush()
    wide = by_expression({"village_code": VILLAGE}, pagination={"page_size": 10})
    narrow = by_expression({"village_code": SMALL_VILLAGE}, pagination={"page_size": 2})
    answer = await send(http, "/registry/sync/search", search(wide, narrow), reader)
    refused, counted = answer.items
    assert (refused["status"], refused["status_reason_code"]) == (
        "rjct",
        "rjct.search.too_many_records_found",
    )
    assert counted["pagination"]["total_count"] == 3
    assert len(counted["data"]["reg_records"]) == 2


async def test_a_message_asks_for_a_bounded_number_of_records_in_all(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    items = [
        by_expression({"village_code": SMALL_VILLAGE}, pagination={"page_size": 500})
        for _ in range(11)
    ]
    answer = await send(http, "/registry/sync/search", search(*items), reader)
    statuses = [item["status"] for item in answer.items]
    assert statuses == ["succ"] * 10 + ["rjct"]
    assert answer.items[10]["status_reason_code"] == "rjct.pagination.invalid"
