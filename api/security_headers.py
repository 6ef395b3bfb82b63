"""Security headers on every answer, from lists built once at start-up.

- ``X-Content-Type-Options: nosniff`` everywhere: a browser must not read a JSON answer or a
  CSV export as a script or a page.
- ``Cache-Control: no-store`` on the API, GraphQL and the token endpoint: their answers carry
  personal data or credentials, which no proxy or browser cache may keep (RFC 6749 asks it of
  the token endpoint anyway). A route that set its own ``Cache-Control`` keeps it.
- A ``Content-Security-Policy`` and frame protection on the pages a browser opens (``/docs``,
  ``/redoc``, GraphiQL at ``/graphql``): scripts only from this service or with a known hash,
  no framing by another site.

Every request passes here (from ``api.edge``), so the cost is one dict look-up and a list
concatenation."""

from __future__ import annotations

from collections.abc import Mapping

Headers = list[tuple[bytes, bytes]]

_NOSNIFF: Headers = [(b"x-content-type-options", b"nosniff")]
_NO_STORE: Headers = [(b"cache-control", b"no-store")]
_PRIVATE_PREFIXES = ("/api/v1/", "/graphql")
_PRIVATE_PATHS = ("/api/v1", "/oauth/token")


class SecurityHeaders:
    """``page_policies`` maps the path of each browser page to its Content-Security-Policy. Put
    on every answer by the edge middleware (``api.edge``)."""

    def __init__(self, *, page_policies: Mapping[str, str]) -> None:
        self.page_headers: dict[str, Headers] = {
            path: [
                *_NOSNIFF,
                (b"content-security-policy", policy.encode("latin-1")),
                (b"x-frame-options", b"DENY"),
            ]
            for path, policy in page_policies.items()
        }

    def for_path(self, path: str) -> tuple[Headers, bool]:
        """The headers every answer on ``path`` gets, and whether it must not be stored."""
        no_store = path.startswith(_PRIVATE_PREFIXES) or path in _PRIVATE_PATHS
        return self.page_headers.get(path, _NOSNIFF), no_store


def add_security_headers(headers: Headers, extra: Headers, no_store: bool) -> None:
    """``extra``, and ``Cache-Control: no-store`` unless the route set its own."""
    headers += extra
    if no_store and not any(name == b"cache-control" for name, _ in headers):
        headers += _NO_STORE
