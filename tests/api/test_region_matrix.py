"""The region rule, operation by operation, for every endpoint the service has.

Records are made by a regency office of Kabupaten Tegal (33.28) in the village of Guci
(33.28.02.2001). An outsider from the neighbouring regency (Brebes, 33.29), holding every scope,
must get 404 for each of those records exactly as if it did not exist, 403 for creating anything
inside Tegal, and lists without them; an insider (another Tegal client) must succeed. The
requests of the caller under test go through ``probe``: test_region_coverage.py fails when an
operation or GraphQL field exists that no matrix test sent a request to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth_service
from service.kpm import imports
from tests.factories import ClientFactory, IssuedClient, family_body, member_body, program_body

OWNER_REGION, INSIDER_REGION, OUTSIDER_REGION = "33.28", "33.28", "33.29"


@dataclass
class World:
    family: dict[str, Any]
    member_id: str
    facilitator_id: str
    program_code: str
    import_job_id: str
    etags: dict[str, str]

    @property
    def family_url(self) -> str:
        return f"/api/v1/kpm/{self.family['id']}"


@pytest.fixture
async def world(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession, tmp_path: Path
) -> World:
    owner = await clients(region=OWNER_REGION)
    facilitator = await http.post(
        "/api/v1/facilitators",
        json={"name": "Ani Rahayu", "kind": "PKH", "region_code": "33.28.02"},
        headers=owner.headers,
    )
    program = program_body(region_code=OWNER_REGION)
    assert (await http.post("/api/v1/programs", json=program, headers=owner.headers)).is_success
    created = await http.post("/api/v1/kpm", json=family_body(), headers=owner.headers)
    family = created.json()
    url = f"/api/v1/kpm/{family['id']}"
    enrolled = await http.post(
        url + "/enrollments", json={"program_code": "BPNT"}, headers=owner.headers
    )
    assert facilitator.status_code == created.status_code == enrolled.status_code == 201

    upload = tmp_path / "roll.csv"
    upload.write_text(
        "no_kk,nik,name,relationship,sex,birth_date,village_code,address,desil,programs\n"
    )
    caller = await auth_service.caller_from_token(
        session, owner_keys(http), owner.token, request_id=None
    )
    job = await imports.create_job(session, caller, upload, "csv", upload.stat().st_size)
    await session.flush()

    etags = {
        "family": (await http.get(url, headers=owner.headers)).headers["etag"],
        "facilitator": (
            await http.get(
                f"/api/v1/facilitators/{facilitator.json()['id']}", headers=owner.headers
            )
        ).headers["etag"],
        "program": f'"{1}"',
        "enrollment": f'"{enrolled.json()["version"]}"',
    }
    return World(
        family=family,
        member_id=family["members"][-1]["id"],
        facilitator_id=facilitator.json()["id"],
        program_code=str(program["code"]),
        import_job_id=str(job.id),
        etags=etags,
    )


def owner_keys(http: httpx.AsyncClient) -> Any:
    app: FastAPI = http._transport.app  # type: ignore[attr-defined]
    return app.state.token_keys


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World], str]
    outsider: int  # expected status for the client from Brebes
    insider: int  # expected status for another client of Tegal
    body: Callable[[World], Any] | None = None
    etag: str | None = None  # which record's ETag goes in If-Match
    absent_from: str | None = None  # for lists: the value that must not appear for outsiders


def _fid(w: World) -> str:
    return w.family_url


REST_CASES: dict[str, Case] = {
    # Families and their parts: outside the region they do not exist.
    "listFamilies": Case("GET", lambda w: "/api/v1/kpm?limit=500", 200, 200, absent_from="family"),
    "exportFamilies": Case(
        "GET", lambda w: "/api/v1/kpm/export?format=ndjson", 200, 200, absent_from="no_kk"
    ),
    "createFamily": Case("POST", lambda w: "/api/v1/kpm", 403, 201, body=lambda w: family_body()),
    "getFamily": Case("GET", _fid, 404, 200),
    "updateFamily": Case("PATCH", _fid, 404, 200, body=lambda w: {"desil": 3}, etag="family"),
    "archiveFamily": Case(
        "POST", lambda w: _fid(w) + "/archive", 404, 200,
        body=lambda w: {"reason": "Pindah domisili"}, etag="family",
    ),
    "addMember": Case(
        "POST", lambda w: _fid(w) + "/members", 404, 201,
        body=lambda w: member_body("ANAK", name="Dewi"), etag="family",
    ),
    "updateMember": Case(
        "PATCH", lambda w: f"{_fid(w)}/members/{w.member_id}", 404, 200,
        body=lambda w: {"name": "Budi Santoso"}, etag="family",
    ),
    "removeMember": Case(
        "DELETE", lambda w: f"{_fid(w)}/members/{w.member_id}", 404, 200, etag="family"
    ),
    "recordVerification": Case(
        "POST", lambda w: _fid(w) + "/verifications", 404, 201,
        body=lambda w: {"visited_on": "2026-05-01", "outcome": "eligible"},
    ),
    "listVerifications": Case("GET", lambda w: _fid(w) + "/verifications", 404, 200),
    "enrollFamily": Case(
        "POST", lambda w: _fid(w) + "/enrollments", 404, 201,
        body=lambda w: {"program_code": "PK3E"},
    ),
    "changeEnrollment": Case(
        "PATCH", lambda w: _fid(w) + "/enrollments/BPNT", 404, 200,
        body=lambda w: {"status": "active"}, etag="enrollment",
    ),
    "enrollmentHistory": Case("GET", lambda w: _fid(w) + "/enrollments/BPNT/history", 404, 200),
    # Import jobs belong to the client that started them.
    "getImport": Case("GET", lambda w: f"/api/v1/kpm/imports/{w.import_job_id}", 404, 404),
    "listImportRefusals": Case(
        "GET", lambda w: f"/api/v1/kpm/imports/{w.import_job_id}/refusals", 404, 404
    ),
    # Facilitators work in an area.
    "listFacilitators": Case(
        "GET", lambda w: "/api/v1/facilitators?limit=500", 200, 200, absent_from="facilitator"
    ),
    "exportFacilitators": Case(
        "GET", lambda w: "/api/v1/facilitators/export?format=csv", 200, 200,
        absent_from="facilitator",
    ),
    "createFacilitator": Case(
        "POST", lambda w: "/api/v1/facilitators", 403, 201,
        body=lambda w: {"name": "Joko", "kind": "TKSK", "region_code": "33.28.02"},
    ),
    "getFacilitator": Case("GET", lambda w: f"/api/v1/facilitators/{w.facilitator_id}", 404, 200),
    "updateFacilitator": Case(
        "PATCH", lambda w: f"/api/v1/facilitators/{w.facilitator_id}", 404, 200,
        body=lambda w: {"yearly_target": 5}, etag="facilitator",
    ),
    # Local programs belong to their region; national ones are visible to all.
    "listPrograms": Case(
        "GET", lambda w: "/api/v1/programs?limit=500", 200, 200, absent_from="program"
    ),
    "createProgram": Case(
        "POST", lambda w: "/api/v1/programs", 403, 201,
        body=lambda w: program_body(region_code="33.28"),
    ),
    "getProgram": Case("GET", lambda w: f"/api/v1/programs/{w.program_code}", 404, 200),
    "updateProgram": Case(
        "PATCH", lambda w: f"/api/v1/programs/{w.program_code}", 404, 200,
        body=lambda w: {"name": "PK3E Tegal 2024"}, etag="program",
    ),
    # Reports cover the caller's region; another region is "not found".
    "reportVerificationFunnel": Case(
        "GET", lambda w: "/api/v1/reports/verification-funnel?region=33.28", 404, 200
    ),
    "reportTrainingCompletion": Case(
        "GET", lambda w: "/api/v1/reports/training-completion?region=33.28", 404, 200
    ),
    "reportBudgetRealisation": Case(
        "GET", lambda w: "/api/v1/reports/budget-realisation?region=33.28", 404, 200
    ),
    "reportKube": Case("GET", lambda w: "/api/v1/reports/kube?region=33.28", 404, 200),
    "reportGraduations": Case(
        "GET", lambda w: "/api/v1/reports/graduations?region=33.28", 404, 200
    ),
    # The region tree is reference data: everyone reads all of it.
    "listRegions": Case("GET", lambda w: "/api/v1/regions?name=guci", 200, 200),
    "getRegion": Case("GET", lambda w: "/api/v1/regions/33.28.02.2001", 200, 200),
    "listRegionChildren": Case("GET", lambda w: "/api/v1/regions/33.28/children", 200, 200),
}  # fmt: skip


def _absent_value(world: World, kind: str) -> str:
    values: dict[str, str] = {
        "family": world.family["id"],
        "no_kk": world.family["no_kk"],  # export lines carry the card number, not the id
        "facilitator": world.facilitator_id,
        "program": world.program_code,
    }
    return values[kind]


async def _call(
    http: httpx.AsyncClient, case: Case, world: World, client: IssuedClient
) -> httpx.Response:
    headers = dict(client.headers)
    if case.etag:
        headers["If-Match"] = world.etags[case.etag]
    body = case.body(world) if case.body else None
    return await http.request(case.method, case.path(world), json=body, headers=headers)


@pytest.mark.parametrize("operation", sorted(REST_CASES))
async def test_outsider_sees_nothing_and_changes_nothing(
    http: httpx.AsyncClient,
    probe: httpx.AsyncClient,
    clients: ClientFactory,
    world: World,
    operation: str,
) -> None:
    case = REST_CASES[operation]
    outsider = await clients(region=OUTSIDER_REGION)
    response = await _call(probe, case, world, outsider)
    assert response.status_code == case.outsider, response.text
    if case.outsider == 404:
        # Indistinguishable from a record that does not exist.
        assert response.json()["code"] == "not_found"
    if case.outsider == 403:
        assert response.json()["code"] == "outside_region"
    if case.absent_from:
        assert _absent_value(world, case.absent_from) not in response.text
    # Nothing changed: the owner's records are as they were.
    owner_view = await http.get(world.family_url, headers=(await clients()).headers)
    assert owner_view.headers["etag"] == world.etags["family"]


@pytest.mark.parametrize("operation", sorted(REST_CASES))
async def test_insider_is_served(
    probe: httpx.AsyncClient, clients: ClientFactory, world: World, operation: str
) -> None:
    case = REST_CASES[operation]
    insider = await clients(region=INSIDER_REGION)
    response = await _call(probe, case, world, insider)
    assert response.status_code == case.insider, response.text
    if case.absent_from:
        assert _absent_value(world, case.absent_from) in response.text


async def test_a_village_system_sees_its_village_and_not_the_next(
    http: httpx.AsyncClient, clients: ClientFactory, world: World
) -> None:
    guci = await clients(region="33.28.02.2001")
    next_village = await clients(region="33.28.02.2002")
    assert (await http.get(world.family_url, headers=guci.headers)).status_code == 200
    assert (await http.get(world.family_url, headers=next_village.headers)).status_code == 404


GRAPHQL_CASES: dict[str, tuple[str, Callable[[World], dict[str, Any]], str | None]] = {
    # field -> (document, variables, error code for the outsider; None: answered, record absent)
    "family": (
        "query($id: UUID!) { family(id: $id) { id } }",
        lambda w: {"id": w.family["id"]},
        "not_found",
    ),
    "families": ("{ families(limit: 500) { items { id } } }", lambda w: {}, None),
    "program": (
        "query($c: String!) { program(code: $c) { code } }",
        lambda w: {"c": w.program_code},
        "not_found",
    ),
    "programs": ("{ programs(limit: 500) { items { code } } }", lambda w: {}, None),
    # The world is not committed, so not in the feed; the region rule on committed writes is
    # proven in test_changes_graphql.py.
    "changes": ("{ changes(limit: 500) { items { recordId } nextCursor } }", lambda w: {}, None),
    "region": ('{ region(code: "33.28") { code } }', lambda w: {}, None),
    "regions": ('{ regions(name: "guci") { items { code } } }', lambda w: {}, None),
    "createFamily": (
        """mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }""",
        lambda w: {"i": _gql_family(family_body())},
        "outside_region",
    ),
    "createProgram": (
        """mutation($i: ProgramCreateInput!) { createProgram(input: $i) { code } }""",
        lambda w: {"i": _gql_program(program_body(region_code="33.28"))},
        "outside_region",
    ),
    "updateProgram": (
        """mutation($c: String!) {
            updateProgram(code: $c, expectedVersion: 1, input: {name: "Program Brebes"}) {
                code
            }
        }""",
        lambda w: {"c": w.program_code},
        "not_found",
    ),
    # KPM: families and their parts, facilitators, imports, reports
    "updateFamily": (
        """mutation($id: UUID!, $v: Int!) {
            updateFamily(id: $id, expectedVersion: $v, input: {desil: 3}) { id } }""",
        lambda w: {"id": w.family["id"], "v": _version(w, "family")},
        "not_found",
    ),
    "archiveFamily": (
        """mutation($id: UUID!, $v: Int!) {
            archiveFamily(id: $id, expectedVersion: $v, reason: "Pindah domisili") { id } }""",
        lambda w: {"id": w.family["id"], "v": _version(w, "family")},
        "not_found",
    ),
    "addMember": (
        """mutation($id: UUID!, $v: Int!, $m: MemberInput!) {
            addMember(familyId: $id, expectedVersion: $v, input: $m) { version } }""",
        lambda w: {
            "id": w.family["id"],
            "v": _version(w, "family"),
            "m": {_camel(k): v for k, v in member_body("ANAK", name="Dewi").items()},
        },
        "not_found",
    ),
    "updateMember": (
        """mutation($id: UUID!, $m: UUID!, $v: Int!) { updateMember(familyId: $id,
            memberId: $m, expectedVersion: $v, input: {name: "Budi Santoso"}) { version } }""",
        lambda w: {"id": w.family["id"], "m": w.member_id, "v": _version(w, "family")},
        "not_found",
    ),
    "removeMember": (
        """mutation($id: UUID!, $m: UUID!, $v: Int!) {
            removeMember(familyId: $id, memberId: $m, expectedVersion: $v) { version } }""",
        lambda w: {"id": w.family["id"], "m": w.member_id, "v": _version(w, "family")},
        "not_found",
    ),
    "recordVerification": (
        """mutation($id: UUID!) { recordVerification(familyId: $id,
            input: {visitedOn: "2026-05-01", outcome: "eligible"}) { id } }""",
        lambda w: {"id": w.family["id"]},
        "not_found",
    ),
    "enrollFamily": (
        """mutation($id: UUID!) {
            enrollFamily(familyId: $id, input: {programCode: "PK3E"}) { status } }""",
        lambda w: {"id": w.family["id"]},
        "not_found",
    ),
    "changeEnrollment": (
        """mutation($id: UUID!, $v: Int!) { changeEnrollment(familyId: $id,
            programCode: "BPNT", expectedVersion: $v, input: {status: "active"}) { status } }""",
        lambda w: {"id": w.family["id"], "v": _version(w, "enrollment")},
        "not_found",
    ),
    "facilitator": (
        "query($id: UUID!) { facilitator(id: $id) { id } }",
        lambda w: {"id": w.facilitator_id},
        "not_found",
    ),
    "facilitators": ("{ facilitators(limit: 500) { items { id } } }", lambda w: {}, None),
    "createFacilitator": (
        """mutation { createFacilitator(input: {name: "Joko", kind: "TKSK",
            regionCode: "33.28.02"}) { id } }""",
        lambda w: {},
        "outside_region",
    ),
    "updateFacilitator": (
        """mutation($id: UUID!, $v: Int!) { updateFacilitator(id: $id, expectedVersion: $v,
            input: {yearlyTarget: 5}) { id } }""",
        lambda w: {"id": w.facilitator_id, "v": _version(w, "facilitator")},
        "not_found",
    ),
    # Import jobs belong to the client that started them: not found for the insider too.
    "importJob": (
        "query($id: UUID!) { importJob(id: $id) { id } }",
        lambda w: {"id": w.import_job_id},
        "not_found",
    ),
    "importRefusals": (
        "query($id: UUID!) { importRefusals(jobId: $id) { nextCursor } }",
        lambda w: {"id": w.import_job_id},
        "not_found",
    ),
    "verificationFunnelReport": (
        '{ verificationFunnelReport(region: "33.28") { regionCode } }',
        lambda w: {},
        "not_found",
    ),
    "graduationsReport": (
        '{ graduationsReport(region: "33.28") { regionCode } }',
        lambda w: {},
        "not_found",
    ),
    "trainingCompletionReport": (
        '{ trainingCompletionReport(region: "33.28") { regionCode } }',
        lambda w: {},
        "not_found",
    ),
    "kubeReport": ('{ kubeReport(region: "33.28") { regionCode } }', lambda w: {}, "not_found"),
    "budgetRealisationReport": (
        '{ budgetRealisationReport(region: "33.28") { regionCode } }',
        lambda w: {},
        "not_found",
    ),
}
# What the insider gets where it is not an answer (the job is its starter's alone).
GRAPHQL_INSIDER_CODES = {"importJob": "not_found", "importRefusals": "not_found"}


def _version(world: World, record: str) -> int:
    return int(world.etags[record].strip('"'))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _gql_family(body: dict[str, Any]) -> dict[str, Any]:
    converted = {_camel(k): v for k, v in body.items() if k != "members"}
    converted["members"] = [{_camel(k): v for k, v in m.items()} for m in body["members"]]
    return converted


def _gql_program(body: dict[str, Any]) -> dict[str, Any]:
    converted = {_camel(k): v for k, v in body.items()}
    converted["level"] = str(converted["level"]).upper()
    converted["benefitKind"] = str(converted["benefitKind"]).upper()
    return converted


@pytest.mark.parametrize("field", sorted(GRAPHQL_CASES))
async def test_graphql_outsider_sees_nothing_and_changes_nothing(
    probe: httpx.AsyncClient, clients: ClientFactory, world: World, field: str
) -> None:
    document, variables, expected_code = GRAPHQL_CASES[field]
    outsider = await clients(region=OUTSIDER_REGION)
    response = await probe.post(
        "/graphql",
        json={"query": document, "variables": variables(world)},
        headers=outsider.headers,
    )
    body = response.json()
    codes = [error["extensions"]["code"] for error in body.get("errors") or []]
    assert codes == ([expected_code] if expected_code else []), body
    for value in (world.family["id"], world.program_code, world.facilitator_id):
        assert value not in response.text

    insider = await clients(region=INSIDER_REGION)
    inside = await probe.post(
        "/graphql",
        json={"query": document, "variables": variables(world)},
        headers=insider.headers,
    )
    inside_codes = [error["extensions"]["code"] for error in inside.json().get("errors") or []]
    expected_inside = GRAPHQL_INSIDER_CODES.get(field)
    assert inside_codes == ([expected_inside] if expected_inside else []), inside.text
