"""``dinsos worker``: the background work on its own, beside or instead of the one in
``dinsos serve``: the webhook dispatcher and the import worker. Run as many as you like against
one database: each subscription is sent by one process at a time, in order, and each import job
is run by one process at a time, resumed by another if that one dies."""

from __future__ import annotations


def worker() -> None:
    """Send webhook deliveries and run import jobs until stopped (SIGTERM or Ctrl-C), then
    finish the sends in flight (an import in hand is left for another process to resume).
    Without DATABASE_URL, on the embedded PostgreSQL."""
    import asyncio
    import signal

    from api.observability import configure_logging
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.kpm.import_worker import run_import_worker
    from service.settings import get_settings
    from service.webhooks.dispatcher import run_dispatcher

    settings = get_settings()
    configure_logging(settings.log_level)

    async def run(url: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await asyncio.gather(
            run_dispatcher(url, settings, stop), run_import_worker(url, settings, stop)
        )

    try:
        asyncio.run(run(resolve_database_url(settings)))
    finally:
        stop_embedded_database()
