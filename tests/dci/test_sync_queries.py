"""Expression and predicate queries find exactly what REST's family list finds with the same
filter (the same conditions build both), in the same order, paged with a total; sort and pages
work as the spec says; member attributes ask "some member" of a family, or the member itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.dci.messages import by_expression, search, search_item, send
from tests.factories import ClientFactory, IssuedClient, family_body, member_body

VILLAGE = "33.26.06.2002"
NEIGHBOUR = "33.26.06.2003"  # same district: a district client sees both
DISTRICT = "33.26.06"


async def families(http: httpx.AsyncClient, writer: IssuedClient) -> list[dict[str, Any]]:
    """Six families: desil 1 to 6 in two villages, PKH or BPNT or both, two visited."""
    made = []
    for desil in range(1, 7):
        village = VILLAGE if desil % 2 else NEIGHBOUR
        district = village.rsplit(".", 1)[0]
        body = family_body(
            village,
            desil=desil,
            programs=[["PKH"], ["BPNT"], ["PKH", "BPNT"]][desil % 3],
            members=[
                member_body(district=district, birth=dt.date(1970 + desil * 5, 3, 14)),
                member_body("ANAK", district=district, birth=dt.date(2010 + desil, 1, 2),
                            female=True, name="Rina"),
            ],
        )  # fmt: skip
        response = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
        assert response.status_code == 201, response.text
        made.append(response.json())
    for family, outcome in ((made[0], "eligible"), (made[3], "ineligible")):
        visit = {"visited_on": "2026-11-02", "outcome": outcome}
        response = await http.post(
            f"/api/v1/kpm/{family['id']}/verifications", json=visit, headers=writer.headers
        )
        assert response.status_code == 201, response.text
    return made


async def rest_ids(http: httpx.AsyncClient, client: IssuedClient, **filters: Any) -> list[str]:
    answer = await http.get("/api/v1/kpm", params={**filters, "limit": 500}, headers=client.headers)
    assert answer.status_code == 200, answer.text
    return [family["id"] for family in answer.json()["items"]]


async def dci_ids(http: httpx.AsyncClient, client: IssuedClient, item: dict[str, Any]) -> list[str]:
    answer = await send(http, "/registry/sync/search", search(item), client)
    records = answer.records()
    assert answer.items[0]["pagination"]["total_count"] == len(records)
    return [record["@id"] for record in records]


@pytest.fixture
async def district(http: httpx.AsyncClient, clients: ClientFactory) -> IssuedClient:
    writer = await clients(region=DISTRICT, scopes=["kpm:read", "kpm:write"])
    await families(http, writer)
    return await clients(region=DISTRICT, scopes=["kpm:read"])


@pytest.mark.parametrize(
    ("expression", "filters"),
    [
        ({"village_code": {"$eq": VILLAGE}}, {"village_code": VILLAGE}),
        ({"desil": {"$eq": 4}}, {"desil": 4}),
        ({"program": {"$eq": "BPNT"}}, {"program": "BPNT"}),
        ({"verification_status": {"$eq": "eligible"}}, {"verification_status": "eligible"}),
        ({"$and": [{"village_code": {"$eq": "3326062003"}}, {"program": {"$eq": "pkh"}}]},
         {"village_code": NEIGHBOUR, "program": "PKH"}),
        ({"region": {"$eq": DISTRICT}}, {"region": DISTRICT}),
    ],
)  # fmt: skip
async def test_an_expression_finds_what_the_rest_list_finds(
    http: httpx.AsyncClient,
    district: IssuedClient,
    expression: dict[str, Any],
    filters: dict[str, Any],
) -> None:
    expected = await rest_ids(http, district, **filters)
    assert expected  # the filter selects something
    assert await dci_ids(http, district, by_expression(expression)) == expected


async def test_or_in_and_ranges_combine_the_rest_filters(
    http: httpx.AsyncClient, district: IssuedClient
) -> None:
    everyone = await rest_ids(http, district)
    low = [f for d in (1, 2, 3) for f in await rest_ids(http, district, desil=d)]
    pkh = await rest_ids(http, district, program="PKH")
    assert await dci_ids(http, district, by_expression({"desil": {"$lt": 4}})) == [
        f for f in everyone if f in low
    ]
    either = by_expression({"$or": [{"desil": {"$lte": 3}}, {"program": "PKH"}]})
    assert await dci_ids(http, district, either) == [f for f in everyone if f in low or f in pkh]
    within = by_expression({"desil": {"$in": [1, 2, 3], "$gt": 1}})
    assert await dci_ids(http, district, within) == [f for f in everyone if f in low[1:]]
    ineligible = await rest_ids(http, district, verification_status="ineligible")
    assert ineligible
    # A family never visited (no status) is not "ineligible": `$not` and `$ne` find it too.
    others = [f for f in everyone if f not in ineligible]
    assert len(others) > len(await rest_ids(http, district, verification_status="eligible"))
    for query in (
        {"$not": {"verification_status": {"$eq": "ineligible"}}},
        {"verification_status": {"$ne": "ineligible"}},
        {"$not": {"verification_status": {"$in": ["ineligible"]}}},
    ):
        assert await dci_ids(http, district, by_expression(query)) == others, query


async def test_a_member_attribute_finds_families_or_members(
    http: httpx.AsyncClient, district: IssuedClient
) -> None:
    born = {"birth_date": {"$gte": "1985-01-01", "$lt": "2000-01-01"}}  # heads with desil 3, 4, 5
    groups = await send(http, "/registry/sync/search", search(by_expression(born)), district)
    assert sorted(group["poverty_score"] for group in groups.records()) == [3, 4, 5]
    members = await send(
        http, "/registry/sync/search", search(by_expression(born, entity="Member")), district
    )
    found = members.records()
    assert sorted(m["demographic_info"]["birth_date"][:4] for m in found) == [
        "1985",
        "1990",
        "1995",
    ]
    girls = by_expression({"$and": [{"sex": "female"}, {"relationship": "anak"}]}, entity="Member")
    assert len(await dci_ids(http, district, girls)) == 6
    # One object: the same member; an $and of two: each for some member of the family.
    same = by_expression({"relationship": "ANAK", "birth_date": {"$lt": "2000-01-01"}})
    assert await dci_ids(http, district, same) == []
    apart = by_expression(
        {"$and": [{"relationship": "ANAK"}, {"birth_date": {"$lt": "2000-01-01"}}]}
    )
    assert len(await dci_ids(http, district, apart)) == 5


async def test_a_predicate_query_means_the_same(
    http: httpx.AsyncClient, district: IssuedClient
) -> None:
    expected = await rest_ids(http, district, village_code=VILLAGE, program="PKH")
    predicate = [
        {"seq_num": 1,
         "expression1": {"attribute_name": "village_code", "operator": "eq",
                         "attribute_value": VILLAGE},
         "condition": "and",
         "expression2": {"attribute_name": "program", "operator": "eq",
                         "attribute_value": "PKH"}},
    ]  # fmt: skip
    assert await dci_ids(http, district, search_item("predicate", predicate)) == expected
    negated = [{**predicate[0], "condition": "not"}]
    in_village = await rest_ids(http, district, village_code=VILLAGE)
    assert await dci_ids(http, district, search_item("predicate", negated)) == [
        f for f in in_village if f not in expected
    ]


async def test_sort_and_pages(http: httpx.AsyncClient, district: IssuedClient) -> None:
    def page(number: int) -> dict[str, Any]:
        return by_expression(
            {"region": DISTRICT},
            sort=[{"attribute_name": "desil", "sort_order": "desc"}],
            pagination={"page_size": 4, "page_number": number},
        )

    answer = await send(http, "/registry/sync/search", search(page(1), page(2), page(3)), district)
    scores = [[group["poverty_score"] for group in answer.records(i)] for i in range(3)]
    assert scores == [[6, 5, 4, 3], [2, 1], []]
    assert [item["pagination"] for item in answer.items] == [
        {"page_size": 4, "page_number": n, "total_count": 6} for n in (1, 2, 3)
    ]
