"""The record a change carries is the record as its REST read shows it, for every record type,
masked for a reader without `pii:read` exactly as the read masks it, through REST and GraphQL."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.feed import ENTITY_TYPES
from service.changes.payloads import LOADERS
from service.database import create_session_factory
from tests.api.changes_feed import drain_until, drain_until_version
from tests.api.kube_setup import active_group
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    cohort_body,
    disbursement_body,
    family_body,
    grant_body,
    money_headers,
    program_body,
)

# Committed data (the feed shows only committed changes), in a regency no other test lists.
REGENCY = "33.27"
DISTRICT = "33.27.01"
VILLAGE = "33.27.01.2001"


class Feed:
    """A reader of the feed that remembers where it is, and a writer whose writes it checks."""

    def __init__(self, http: httpx.AsyncClient, reader: IssuedClient, writer: IssuedClient):
        self.http, self.reader, self.writer = http, reader, writer
        self.cursor: str | None = None

    async def start(self) -> None:
        _, self.cursor = await drain_until(self.http, self.reader, None, set())

    async def write(self, method: str, url: str, body: Any = None, **headers: str) -> Any:
        response = await self.http.request(
            method, url, json=body, headers={**self.writer.headers, **headers}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def latest(self, record_id: str, version: int) -> dict[str, Any]:
        """The record's change that made ``version``, once this reader sees it."""
        events, self.cursor = await drain_until_version(
            self.http, self.reader, self.cursor, record_id, version
        )
        return events[-1]

    async def read(self, url: str) -> Any:
        response = await self.http.get(url, headers=self.reader.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def matches_read(self, record_id: str, url: str) -> dict[str, Any]:
        read = await self.read(url)
        event = await self.latest(record_id, read["version"])
        assert event["record"] == read
        return event


def test_every_published_type_has_a_loader_of_its_records() -> None:
    assert set(LOADERS) == ENTITY_TYPES


async def test_each_record_type_carries_its_rest_read(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    feed = Feed(live_http, await live_clients(region=None), await live_clients(region=None))
    await feed.start()

    program = await feed.write(
        "POST", "/api/v1/programs", program_body(benefit_kind="capital", region_code=REGENCY)
    )
    await feed.matches_read(program["id"], f"/api/v1/programs/{program['code']}")

    facilitator = await feed.write(
        "POST",
        "/api/v1/facilitators",
        {"name": "Pak Darmo", "kind": "PKH", "region_code": DISTRICT},
    )
    await feed.matches_read(facilitator["id"], f"/api/v1/facilitators/{facilitator['id']}")

    family = await feed.write("POST", "/api/v1/kpm", family_body(VILLAGE))
    url = f"/api/v1/kpm/{family['id']}"
    await feed.matches_read(family["id"], url)
    await feed.write(
        "PATCH", url, {"address": "RT 01 RW 01", "facilitator_id": facilitator["id"]}, **{
            "If-Match": '"1"'
        }
    )  # fmt: skip
    assert (await feed.matches_read(family["id"], url))["action"] == "update"
    await feed.write(
        "POST", f"{url}/members", family_body(VILLAGE)["members"][2], **{"If-Match": '"2"'}
    )
    await feed.matches_read(family["id"], url)

    group = await active_group(live_http, feed.writer, VILLAGE)
    await feed.matches_read(group["id"], f"/api/v1/kube/{group['id']}")
    grant = await feed.write("POST", "/api/v1/kube-grants", grant_body(group["id"]))
    await feed.matches_read(grant["id"], f"/api/v1/kube-grants/{grant['id']}")

    cohort = await feed.write("POST", "/api/v1/training-cohorts", cohort_body(DISTRICT))
    cohort_url = f"/api/v1/training-cohorts/{cohort['id']}"
    await feed.matches_read(cohort["id"], cohort_url)
    before_enrolment = feed.cursor
    participant = await feed.write(
        "POST", f"{cohort_url}/participants", {"member_id": family["members"][0]["id"]}
    )
    # Enrolling moved the cohort's participant count (its version stays): the feed carries
    # the cohort as it stands after that.
    counted = await feed.read(cohort_url)
    assert counted["participant_count"] == 1
    events, _ = await drain_until(live_http, feed.reader, before_enrolment, {cohort["id"]})
    [enrolment] = [event for event in events if event["record_id"] == cohort["id"]]
    assert (enrolment["changed_fields"], enrolment["record"]) == (["participant_count"], counted)
    (listed,) = await feed.read(f"{cohort_url}/participants")
    assert (await feed.latest(participant["id"], listed["version"]))["record"] == listed
    await feed.write("POST", f"{cohort_url}/transitions", {"to": "running"})
    await feed.matches_read(cohort["id"], cohort_url)
    day = cohort["sessions"][0]["id"]
    await feed.write(
        "PUT",
        f"{cohort_url}/sessions/{day}/attendance",
        {"records": [{"participant_id": participant["id"], "present": True}]},
    )
    (listed,) = await feed.read(f"{cohort_url}/participants")
    assert listed["attended"] == 1
    assert (await feed.latest(participant["id"], listed["version"]))["record"] == listed

    allocation = await feed.write(
        "POST",
        "/api/v1/allocations",
        allocation_body(program_code=program["code"], region_code=REGENCY),
    )
    await feed.matches_read(allocation["id"], f"/api/v1/allocations/{allocation['id']}")
    before_payment = feed.cursor
    payment = await feed.write(
        "POST",
        "/api/v1/disbursements",
        disbursement_body(allocation["id"], family["id"]),
        **money_headers(feed.writer),
    )
    payment_url = f"/api/v1/disbursements/{payment['id']}"
    await feed.matches_read(payment["id"], payment_url)
    await feed.write(
        "POST",
        f"{payment_url}/transitions",
        {"to": "sent", "note": "Dikirim"},
        **money_headers(feed.writer),
    )
    assert (await feed.matches_read(payment["id"], payment_url))["action"] == "transition"
    # The payment moved the allocation's committed sum (its version stays): the feed carries
    # the allocation as it stands after that, as its read shows it.
    budget = await feed.read(f"/api/v1/allocations/{allocation['id']}")
    assert budget["committed"] == payment["amount"]
    events, _ = await drain_until(live_http, feed.reader, before_payment, {allocation["id"]})
    sums = [event for event in events if event["record_id"] == allocation["id"]]
    assert [event["changed_fields"] for event in sums] == [["committed"]]
    assert sums[0]["record"] == budget


async def test_a_family_is_masked_as_its_read_masks_it_and_unmasked_reads_are_audited(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    writer = await live_clients(region=VILLAGE)
    masked = Feed(live_http, await live_clients(region=VILLAGE, scopes=MASKED_READER), writer)
    unmasked = Feed(live_http, await live_clients(region=VILLAGE), writer)
    await masked.start()
    await unmasked.start()
    family = await masked.write("POST", "/api/v1/kpm", family_body(VILLAGE))
    url = f"/api/v1/kpm/{family['id']}"

    seen_masked = await masked.matches_read(family["id"], url)
    assert "*" in seen_masked["record"]["no_kk"]
    assert all("*" in member["nik"] for member in seen_masked["record"]["members"])
    seen = await unmasked.matches_read(family["id"], url)
    assert seen["record"]["no_kk"] == family["no_kk"]

    # One read_pii entry for the feed's page and one for the GET, both by the unmasked reader.
    async with create_session_factory(engine)() as session:
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                col(AuditEntry.client_id) == unmasked.reader.client_id,
                col(AuditEntry.action) == "read_pii",
                col(AuditEntry.record_id) == family["id"],
            )
        )
        assert audited == 2
        none_masked = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                col(AuditEntry.client_id) == masked.reader.client_id,
                col(AuditEntry.action) == "read_pii",
            )
        )
        assert none_masked == 0


MASKED_READER = ["changes:read", "kpm:read", "kpm:write"]

GRAPHQL = """query($after: String) {
    changes(after: $after, limit: 500) { items { recordId action record } nextCursor }
}"""


async def test_graphql_carries_the_same_record(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    writer = await live_clients(region=VILLAGE)
    for scopes in (MASKED_READER, None):
        feed = Feed(live_http, await live_clients(region=VILLAGE, scopes=scopes), writer)
        await feed.start()
        start = feed.cursor
        family = await feed.write("POST", "/api/v1/kpm", family_body(VILLAGE))
        event = await feed.matches_read(family["id"], f"/api/v1/kpm/{family['id']}")
        response = await live_http.post(
            "/graphql",
            json={"query": GRAPHQL, "variables": {"after": start}},
            headers=feed.reader.headers,
        )
        items = response.json()["data"]["changes"]["items"]
        (item,) = [item for item in items if item["recordId"] == family["id"]]
        assert item["record"] == event["record"]
