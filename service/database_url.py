"""Which database the process uses: ``DATABASE_URL`` when set, otherwise the embedded server.

Kept apart from ``service.runtime`` (migrations, reference data, the demo client), which pulls in
the auth, program and region services: every ``dinsos`` command needs the URL, few need those."""

from __future__ import annotations

from service.embedded_database import EmbeddedPostgres
from service.settings import Settings, get_settings

_embedded: EmbeddedPostgres | None = None


def resolve_database_url(settings: Settings | None = None) -> str:
    """``DATABASE_URL`` when set; otherwise the embedded server, started on first use."""
    global _embedded
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    if _embedded is None:
        _embedded = EmbeddedPostgres(settings.data_dir)
    return _embedded.start()


def stop_embedded_database() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None
