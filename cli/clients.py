"""``dinsos clients``: the machine clients of the offices, and their secrets."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Manage API clients (machine clients of offices).", no_args_is_help=True)


@app.command("create")
def create_client(
    name: Annotated[
        str, typer.Option(metavar="NAME", help="Who the client is, e.g. 'SIDesa Kalisalak'.")
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SCOPE", help="A scope to grant; repeat the option. Default: every scope."
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="Region code the client is bound to; none: national."),
    ] = None,
) -> None:
    """Create a client. Its secret is printed once and never stored in the clear."""
    from cli.transactions import in_transaction
    from service.auth import clients
    from service.auth.scopes import ALL_SCOPES

    scopes = scope or sorted(ALL_SCOPES)
    created = in_transaction(
        lambda session: clients.create_client(
            session, clients.operator(), name=name, scopes=scopes, region_code=region
        )
    )
    typer.echo(
        json.dumps(
            {
                "client_id": str(created.client.id),
                "client_secret": created.secret,
                "region": created.client.region_code,
                "scopes": created.client.scopes,
            },
            indent=2,
        )
    )
    typer.secho("Store the secret now: it cannot be shown again.", fg=typer.colors.YELLOW, err=True)


@app.command("list")
def list_clients() -> None:
    """List clients (never their secrets), one a line under a header."""
    from cli.transactions import on_plain_connection
    from service.auth import client_list

    rows = [("ID", "STATE", "REGION", "NAME", "SCOPES")]
    for client in on_plain_connection(client_list.list_clients):
        state = "revoked" if client.revoked_at else "active"
        region = client.region_code or "national"
        rows.append((str(client.id), state, region, client.name, " ".join(client.scopes)))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[4]]).rstrip())


@app.command("rotate-secret")
def rotate_secret(client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")]) -> None:
    """Issue a new secret. The old secret and every token issued with it stop working now."""
    from cli.transactions import in_transaction
    from service.auth import clients

    rotated = in_transaction(
        lambda session: clients.rotate_secret(session, clients.operator(), client_id)
    )
    typer.echo(
        json.dumps({"client_id": str(rotated.client.id), "client_secret": rotated.secret}, indent=2)
    )


@app.command("revoke")
def revoke(client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")]) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working now."""
    from cli.transactions import in_transaction
    from service.auth import clients

    client = in_transaction(
        lambda session: clients.revoke_client(session, clients.operator(), client_id)
    )
    typer.echo(f"Revoked {client.id} ({client.name}).")


dci_keys = typer.Typer(
    help="The public keys a client signs its DCI messages with (Ed25519 or ES256, as JWK). "
    "A client with a key must sign every DCI message.",
    no_args_is_help=True,
)
app.add_typer(dci_keys, name="dci-key")


@dci_keys.command("add")
def add_dci_key(
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")],
    key_id: Annotated[
        str, typer.Option(metavar="KEY_ID", help="The key's id, as the signatures' kidId names it.")
    ],
    jwk: Annotated[
        typer.FileText,
        typer.Option(metavar="FILE", help="The public key as a JWK (JSON file; - for stdin)."),
    ],
) -> None:
    """Register a client's public key for DCI signatures."""
    from cli.transactions import in_transaction
    from service.auth import clients
    from service.dci import sender_keys

    try:
        public = json.loads(jwk.read())
    except ValueError as error:
        raise typer.BadParameter(f"not JSON: {error}", param_hint="--jwk") from None
    key = in_transaction(
        lambda session: sender_keys.add_key(
            session, clients.operator(), client_id, key_id=key_id, jwk=public
        )
    )
    typer.echo(
        json.dumps(
            {"client_id": str(key.client_id), "key_id": key.key_id, "algorithm": key.algorithm}
        )
    )


@dci_keys.command("list")
def list_dci_keys(client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")]) -> None:
    """A client's DCI keys, one a line: key id, algorithm, state."""
    from cli.transactions import in_transaction
    from service.dci import sender_keys

    for key in in_transaction(lambda session: sender_keys.list_keys(session, client_id)):
        state = "revoked" if key.revoked_at else "active"
        typer.echo(f"{key.key_id}  {key.algorithm}  {state}")


@dci_keys.command("revoke")
def revoke_dci_key(
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")],
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID")],
) -> None:
    """Revoke a client's DCI key: messages signed with it are refused from now on."""
    from cli.transactions import in_transaction
    from service.auth import clients
    from service.dci import sender_keys

    key = in_transaction(
        lambda session: sender_keys.revoke_key(session, clients.operator(), client_id, key_id)
    )
    typer.echo(f"Revoked key {key.key_id} of {key.client_id}.")


dci_senders = typer.Typer(
    help="The DCI sender ids a client may send as (header.sender_id). A client with some "
    "registered is refused (err.sender_id.invalid) as any other; with none, any goes.",
    no_args_is_help=True,
)
app.add_typer(dci_senders, name="dci-sender")


@dci_senders.command("add")
def add_dci_sender(
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")],
    sender_id: Annotated[str, typer.Argument(metavar="SENDER_ID")],
) -> None:
    """Let a client send DCI messages as SENDER_ID (and, once it has one, only as those)."""
    from cli.transactions import in_transaction
    from service.auth import clients
    from service.dci import sender_keys

    sender = in_transaction(
        lambda session: sender_keys.add_sender(session, clients.operator(), client_id, sender_id)
    )
    typer.echo(json.dumps({"client_id": str(sender.client_id), "sender_id": sender.sender_id}))


@dci_senders.command("list")
def list_dci_senders(client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")]) -> None:
    """A client's DCI sender ids, one a line."""
    from cli.transactions import in_transaction
    from service.dci import sender_keys

    for sender in in_transaction(lambda session: sender_keys.list_senders(session, client_id)):
        typer.echo(sender.sender_id)


@dci_senders.command("remove")
def remove_dci_sender(
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID")],
    sender_id: Annotated[str, typer.Argument(metavar="SENDER_ID")],
) -> None:
    """Take a sender id from a client (with none left, it may send as any)."""
    from cli.transactions import in_transaction
    from service.auth import clients
    from service.dci import sender_keys

    sender = in_transaction(
        lambda session: sender_keys.remove_sender(session, clients.operator(), client_id, sender_id)
    )
    typer.echo(f"Removed sender id {sender.sender_id} of {sender.client_id}.")
