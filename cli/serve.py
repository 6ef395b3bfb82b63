"""``dinsos serve``: migrate, then run the HTTP service under uvicorn."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Interface to listen on.")
    ] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Port to listen on.")] = None,
) -> None:
    """Start the service (migrating first). Without DATABASE_URL, on the embedded PostgreSQL."""
    import asyncio

    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging
    from cli.database import demo_credentials, load_demo_data, prepare
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    # uvicorn drains requests on SIGTERM, then re-raises the signal; turning it into SystemExit
    # lets the ``finally`` below stop the embedded server instead of orphaning it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        url = resolve_database_url(settings)
        if settings.migrate_on_start:
            asyncio.run(prepare(url))
        if settings.uses_embedded_database and settings.load_demo_data:
            load_demo_data(url, only_if_empty=True)
        demo = demo_credentials(url)
        if demo is not None:
            typer.secho(
                "\nDemo client (national, every scope), for the docs' Authorize button:\n"
                f"  client_id:     {demo.client_id}\n  client_secret: {demo.client_secret}\n",
                fg=typer.colors.GREEN,
            )
        listen_host, listen_port = host or settings.host, port or settings.port
        typer.echo(f"Docs: http://{listen_host}:{listen_port}/docs  GraphQL: /graphql")
        uvicorn.run(
            create_app(settings, database_url=url),
            host=listen_host,
            port=listen_port,
            log_config=None,
            proxy_headers=True,
            # Which server and version run here is nobody's business.
            server_header=False,
            timeout_graceful_shutdown=20,
        )
    finally:
        stop_embedded_database()
