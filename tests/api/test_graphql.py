"""The GraphQL door's own guards: authentication, permissions on every mutation, and the limits
on query depth, aliases and size."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from api.graphql.schema import Mutation
from tests.factories import ClientFactory, family_body


async def _query(
    http: httpx.AsyncClient,
    query: str,
    headers: dict[str, str] | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_every_mutation_declares_a_permission() -> None:
    fields = Mutation.__strawberry_definition__.fields  # type: ignore[attr-defined]
    assert fields
    undeclared = [field.python_name for field in fields if not field.permission_classes]
    assert undeclared == []


async def test_data_needs_a_token_but_the_schema_is_public(http: httpx.AsyncClient) -> None:
    refused = await _query(http, '{ region(code: "33") { name } }')
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "unauthorized"

    schema = await _query(http, "{ __schema { queryType { name } } }")
    assert schema["data"]["__schema"]["queryType"]["name"] == "Query"

    bad_token = await http.post(
        "/graphql",
        json={"query": '{ region(code: "33") { name } }'},
        headers={"Authorization": "Bearer nonsense"},
    )
    assert bad_token.status_code == 401


async def test_a_token_reads_data(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients()
    body = await _query(
        http, '{ region(code: "3328022001") { code name parent { code } } }', client.headers
    )
    assert body["data"]["region"]["code"] == "33.28.02.2001"
    assert body["data"]["region"]["parent"]["code"] == "33.28.02"


async def test_depth_aliases_and_size_are_limited(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    deep = '{ region(code: "33.28.02.2001") { ' + "parent { " * 9 + "code" + " }" * 10 + " }"
    body = await _query(http, deep, client.headers)
    assert body.get("data") is None
    assert "depth" in body["errors"][0]["message"]

    aliases = " ".join(f'r{n}: region(code: "33") {{ code }}' for n in range(31))
    body = await _query(http, "{ " + aliases + " }", client.headers)
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()

    huge = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    body = await _query(http, huge, client.headers)
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()

    within = '{ region(code: "33.28.02.2001") { ' + "parent { " * 3 + "code" + " }" * 4 + " }"
    body = await _query(http, within, client.headers)
    assert body["data"]["region"]["parent"]["parent"]["parent"]["code"] == "33"


async def test_sibling_fields_share_the_session_safely(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    # GraphQL runs sibling fields concurrently, and every one of them uses the request's one
    # database session; they must take turns rather than interleave on it.
    client = await clients(region="33.28")
    created = await http.post("/api/v1/kpm", json=family_body(), headers=client.headers)
    assert created.status_code == 201
    query = """{
        a: families(limit: 20) { items { id members { name } } }
        b: programs(limit: 20) { items { code } }
        c: kubeGroups(limit: 20) { items { id members { familyId } } }
        d: trainingCohorts(limit: 20) { items { id sessions { heldOn } } }
        e: regions(parentCode: "33.28") { items { code } }
        f: family(id: "FAMILY_ID") { id }
        g: region(code: "33.28.02") { name parent { name } }
    }""".replace("FAMILY_ID", created.json()["id"])
    for _ in range(5):
        body = await _query(http, query, client.headers)
        assert body.get("errors") is None, body["errors"]
        assert body["data"]["f"]["id"] == created.json()["id"]
        assert len(body["data"]["e"]["items"]) == 18


async def test_refusals_never_echo_the_values_sent(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    # PRODUCT: no personal data in errors. A NIK too long for the field, and one sent where a
    # number is expected, come back as field errors without the value.
    client = await clients(region="33.28")
    body = family_body()
    nik = "3328024205900003"
    body["members"][0]["nik"] = nik + " (istri " + nik + ")"
    mutation = "mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }"
    variables = {
        "no_kk": "noKk", "village_code": "villageCode", "birth_date": "birthDate",
    }  # fmt: skip
    gql_input = {variables.get(k, k): v for k, v in body.items() if k != "members"}
    gql_input["members"] = [{variables.get(k, k): v for k, v in m.items()} for m in body["members"]]
    too_long = await http.post(
        "/graphql", json={"query": mutation, "variables": {"i": gql_input}}, headers=client.headers
    )
    assert too_long.json()["errors"][0]["extensions"]["code"] == "validation_failed"
    assert nik not in too_long.text

    wrong_type = await http.post(
        "/graphql",
        json={"query": "query($l: Int!) { programs(limit: $l) { items { code } } }",
              "variables": {"l": nik}},
        headers=client.headers,
    )  # fmt: skip
    assert wrong_type.json()["errors"][0]["message"] == (
        "Variable '$l' has an invalid value: not a valid Int."
    )
    assert nik not in wrong_type.text


async def test_a_refused_mutation_leaves_nothing_behind(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    # The group would be inserted before its members are checked; the unknown member must
    # take the group with it, even though the request itself commits.
    client = await clients(region="33.28")
    name = f"KUBE Tidak Jadi {uuid.uuid4().hex[:6]}"
    mutation = """mutation($i: KubeGroupCreateInput!) { createKubeGroup(input: $i) { id } }"""
    refused = await _query(
        http,
        mutation,
        client.headers,
        variables={"i": {"name": name, "villageCode": "33.28.02.2001",
                         "businessCategory": "jasa",
                         "members": [{"familyId": str(uuid.uuid4()), "role": "ketua"}]}},
    )  # fmt: skip
    assert refused["errors"][0]["extensions"]["code"] == "validation_failed", refused
    listed = await http.get(f"/api/v1/kube?name={name[:12]}", headers=client.headers)
    assert [group["name"] for group in listed.json()["items"]] == []
