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
