"""Reconciliation files: matching lines settle their disbursements; every other line is
reported with its line number and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import (
    ClientFactory,
    IssuedClient,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
    reconciliation_csv,
)

URL = "/api/v1/disbursements/reconciliations"


async def _sent(
    http: httpx.AsyncClient,
    client: IssuedClient,
    allocation_id: str,
    family: str,
    reference: str,
    amount: int = 2_500_000,
) -> dict[str, Any]:
    created = await new_disbursement(http, client, allocation_id, family, amount=amount)
    sent = await move_disbursement(
        http, client, created["id"], "sent", external_reference=reference
    )
    assert sent.status_code == 200, sent.text
    return dict(sent.json())


async def _status(http: httpx.AsyncClient, client: IssuedClient, disbursement_id: str) -> str:
    response = await http.get(f"/api/v1/disbursements/{disbursement_id}", headers=client.headers)
    return str(response.json()["status"])


async def test_matching_lines_settle_and_the_others_are_reported(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=100_000_000)
    families = await insert_families(session, "33.28.02.2001", 5)
    paid = await _sent(http, office, allocation["id"], families[0], "BJT-001")
    bounced = await _sent(http, office, allocation["id"], families[1], "BJT-002")
    other_amount = await _sent(http, office, allocation["id"], families[2], "BJT-003")
    scheduled = await new_disbursement(
        http, office, allocation["id"], families[3], external_reference="BJT-004"
    )
    content = reconciliation_csv(
        [
            ("BJT-001", "confirmed", 2_500_000, "2026-02-03"),
            ("BJT-002", "failed", 2_500_000, "2026-02-03"),
            ("BJT-999", "confirmed", 2_500_000, "2026-02-03"),  # unknown reference
            ("BJT-003", "confirmed", 2_000_000, "2026-02-03"),  # another amount
            ("BJT-004", "confirmed", 2_500_000, "2026-02-03"),  # never sent
            ("BJT-001", "confirmed", 2_500_000, "2026-02-04"),  # the same reference again
            ("BJT-005", "confirmed", "2.500.000", "2026-02-03"),
            ("BJT-006", "paid", 2_500_000, "2026-02-03"),
            ("BJT-007", "failed", 2_500_000, "03/02/2026"),
        ]
    )
    response = await http.post(URL, content=content, headers=money_headers(office))
    assert response.status_code == 200, response.text
    result = response.json()
    assert {key: result[key] for key in result if key != "mismatches"} == {
        "lines": 9,
        "settled": 2,
        "confirmed": 1,
        "failed": 1,
        "unchanged": 0,
        "mismatched": 7,
    }
    assert [(m["line"], m["reference"], m["code"]) for m in result["mismatches"]] == [
        (4, "BJT-999", "unknown_reference"),
        (5, "BJT-003", "amount_mismatch"),
        (6, "BJT-004", "invalid_transition"),
        (7, "BJT-001", "duplicate_line"),
        (8, "BJT-005", "invalid_amount"),
        (9, "BJT-006", "invalid_status"),
        (10, "BJT-007", "invalid_date"),
    ]

    assert await _status(http, office, paid["id"]) == "confirmed"
    assert await _status(http, office, bounced["id"]) == "failed"
    assert await _status(http, office, other_amount["id"]) == "sent"
    assert await _status(http, office, scheduled["id"]) == "scheduled"
    read = (
        await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    # Four were committed; the failed one gave its money back; one is confirmed as paid.
    assert (read["committed"], read["confirmed"]) == (7_500_000, 2_500_000)
    history = (
        await http.get(f"/api/v1/disbursements/{paid['id']}/transitions", headers=office.headers)
    ).json()
    assert (history[-1]["to_status"], history[-1]["on_date"], history[-1]["note"]) == (
        "confirmed",
        "2026-02-03",
        "Reconciliation file, line 2",
    )

    # The same file again (a new upload, new key): nothing is settled twice.
    again = (await http.post(URL, content=content, headers=money_headers(office))).json()
    assert (again["settled"], again["unchanged"]) == (0, 2)
    read_again = (
        await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read_again["committed"], read_again["confirmed"]) == (7_500_000, 2_500_000)


async def test_semicolons_and_indonesian_headers(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    sent = await _sent(http, office, allocation["id"], family, "POS/2026/01")
    content = "\ufeffTanggal;Referensi;Jumlah;Status\r\n2026-03-01;POS/2026/01;2500000;berhasil\r\n"
    response = await http.post(URL, content=content.encode(), headers=money_headers(office))
    assert response.json()["confirmed"] == 1, response.text
    assert await _status(http, office, sent["id"]) == "confirmed"


async def test_a_file_without_the_columns_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    response = await http.post(URL, content=b"ref,amount\nA,1\n", headers=money_headers(office))
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("status", "missing_column"),
        ("date", "missing_column"),
    }
    binary = await http.post(URL, content=b"\xff\xfe\x00", headers=money_headers(office))
    assert binary.status_code == 422
    assert binary.json()["errors"][0]["code"] == "not_utf8"


async def test_references_outside_the_region_are_unknown(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    tegal = await clients(region="33.28")
    allocation = await new_allocation(http, tegal)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    sent = await _sent(http, tegal, allocation["id"], family, "TGL-1")
    content = reconciliation_csv([("TGL-1", "confirmed", 2_500_000, "2026-02-03")])
    brebes = await clients(region="33.29")
    outside = (await http.post(URL, content=content, headers=money_headers(brebes))).json()
    assert [m["code"] for m in outside["mismatches"]] == ["unknown_reference"]
    village = await clients(region="33.28.02.2001")
    inside_village = (await http.post(URL, content=content, headers=money_headers(village))).json()
    assert [m["code"] for m in inside_village["mismatches"]] == ["outside_region"]
    assert await _status(http, tegal, sent["id"]) == "sent"
