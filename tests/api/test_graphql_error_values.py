"""No value sent to the GraphQL door comes back in an error message: inline literals, variables
and nested inputs are named by their path and the kind of problem, never by their value."""

from __future__ import annotations

import json
from typing import Any

import httpx
from graphql import GraphQLSyntaxError, Source

from api.graphql.error_messages import rebuilt_message
from tests.factories import ClientFactory

NIK = "3328021404635102"
CREATE = "mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }"


def _member(**fields: Any) -> dict[str, Any]:
    member = {"nik": NIK, "name": "Siti Aminah", "sex": "F", "birthDate": "1990-01-01",
              "relationship": "kepala"}  # fmt: skip
    member.update(fields)
    return member


def _family(**fields: Any) -> dict[str, Any]:
    family = {"noKk": "3328020101010001", "villageCode": "33.28.02.2001", "members": [_member()]}
    family.update(fields)
    return family


async def _errors(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, variables: Any = None
) -> list[dict[str, Any]]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code in (200, 400), response.text
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


async def test_an_inline_unknown_field_names_the_field_not_the_input(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    literal = (
        'mutation { createFamily(input: {noKk: "3328020101010001", villageCode: "33.28.02.2001",'
        f' bogus: 1, members: [{{nik: "{NIK}", name: "A", sex: "F", birthDate: "1990-01-01",'
        ' relationship: "kepala"}]}) { id } }'
    )
    (error,) = await _errors(http, client.headers, literal)
    assert error["message"] == (
        "Argument 'createFamily(input).bogus' has an invalid value: unknown field 'bogus'."
    )
    assert NIK not in json.dumps(error)


async def test_an_inline_nik_typed_as_a_number_names_its_path(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    literal = (
        'mutation { createFamily(input: {noKk: "3328020101010001", villageCode: "33.28.02.2001",'
        f' members: [{{nik: {NIK}, name: "A", sex: "F", birthDate: "1990-01-01",'
        ' relationship: "kepala"}]}) { id } }'
    )
    (error,) = await _errors(http, client.headers, literal)
    assert error["message"] == (
        "Argument 'createFamily(input).members[0].nik' has an invalid value: not a valid String."
    )
    assert error["extensions"]["code"] == "graphql_error"


async def test_a_nested_variable_names_its_path(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    family = _family(members=[_member(), _member(nik=int(NIK))])
    (error,) = await _errors(http, client.headers, CREATE, {"i": family})
    assert error["message"] == (
        "Variable '$i.members[1].nik' has an invalid value: not a valid String."
    )


async def test_an_unknown_variable_key_holding_a_nik_is_not_echoed(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    errors = await _errors(http, client.headers, CREATE, {"i": {**_family(), NIK: NIK}})
    assert [e["message"] for e in errors] == ["Variable '$i' has an invalid value: unknown field."]


async def test_no_bad_input_gets_its_value_back(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Many ways to send a NIK where it does not belong; none of the answers carries it."""
    client = await clients(region="33.28")
    families = "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }"
    cases: list[tuple[str, Any]] = [
        (CREATE, {"i": _family(members=[_member(nik=int(NIK))])}),
        (CREATE, {"i": _family(members=[_member(nik=[NIK])])}),
        (CREATE, {"i": _family(members=[_member(nik={"v": NIK})])}),
        (CREATE, {"i": _family(members=[_member(birthDate=NIK)])}),
        (CREATE, {"i": _family(members=[_member(nik=NIK * 20)])}),
        (CREATE, {"i": _family(bogus=NIK)}),
        (CREATE, {"i": _family(members=NIK)}),
        (CREATE, {"i": NIK}),
        (CREATE, {"i": _family(desil=NIK)}),
        (CREATE, {"i": _family(desil=int(NIK))}),
        (families, {"f": {"desil": NIK}}),
        (families, {"f": {"nik": NIK + "1"}}),
        (families, {"f": {"updatedSince": NIK}}),
        (families, {"f": {"name": NIK * 10}}),
        (f"{{ families(limit: {NIK}) {{ items {{ id }} }} }}", None),
        (f'{{ families(limit: "{NIK}") {{ items {{ id }} }} }}', None),
        (f"{{ region(code: {NIK}) {{ code }} }}", None),
        (f'{{ family(id: "{NIK}") {{ id }} }}', None),
        (f'{{ families(filter: {{desil: "{NIK}"}}) {{ items {{ id }} }} }}', None),
        (f'{{ families(filter: {{nik: "{NIK}9"}}) {{ items {{ id }} }} }}', None),
        (f"{{ families(filter: {{verificationStatus: {NIK}}}) {{ items {{ id }} }} }}", None),
        (f'{{ families {{ items {{ id }} }} "{NIK}" }}', None),
        (f"{{ families {{ items {{ id }} }} {NIK} }}", None),
        (f'{{ region(code: "{NIK}" {{ code }} }}', None),
        (f'query($x: Int = "{NIK}") {{ programs(limit: $x) {{ items {{ code }} }} }}', None),
        ("query($x: String) { programs(limit: $x) { items { code } } }", {"x": NIK}),
        ("mutation($a: Rupiah!) { createDisbursement(input: {amount: $a}) { id } }", {"a": NIK}),
    ]
    for query, variables in cases:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=client.headers
        )
        assert response.json().get("errors"), (query, response.text)
        assert NIK not in response.text, (query, response.text)


def test_syntax_errors_keep_names_and_limits_but_drop_values() -> None:
    source = Source("{ families }")
    quoted = GraphQLSyntaxError(source, 0, f'Expected Name, found String "{NIK}".')
    assert rebuilt_message(quoted, None) == "Syntax error; see locations."
    limit = GraphQLSyntaxError(
        source, 0, "Document contains more than 20000 tokens. Parsing aborted."
    )
    assert rebuilt_message(limit, None) == (
        "Syntax Error: Document contains more than 20000 tokens. Parsing aborted."
    )
    named = GraphQLSyntaxError(source, 0, "Expected Name, found '}'.")
    assert rebuilt_message(named, None) == "Syntax Error: Expected Name, found '}'."
