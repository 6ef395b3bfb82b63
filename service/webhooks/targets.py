"""Where webhooks may go: no server-side request forgery.

A subscriber names a URL, and the service then sends requests there from inside its network.
Two checks keep those requests off internal addresses:

- when subscribing (``check_target_url``): https only, a host required, no credentials in the
  URL, and no literal address that is not public;
- when sending (``GuardedNetworkBackend``): the host is resolved, the request is refused when
  any of its addresses is loopback, private, link-local, multicast, reserved, unspecified,
  shared (CGNAT) or a cloud metadata address, and the connection goes to the very address that
  was checked. A name that resolves to a public address at the check and to ``127.0.0.1`` a
  moment later (DNS rebinding) cannot slip through, because nothing resolves it again. TLS
  still verifies the certificate against the host name (SNI), as httpcore starts TLS with the
  URL's host on the stream we connected.

Redirects are never followed (httpcore does not), each phase has a timeout, and at most
``ANSWER_CAP`` bytes of the answer are read, for the delivery log.

Operators of closed networks (and the tests, whose receiver listens on loopback) may allow
private targets and plain http with ``DINSOS_WEBHOOK_ALLOW_PRIVATE_TARGETS`` and
``DINSOS_WEBHOOK_ALLOW_HTTP``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import typing
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import httpcore

from service.errors import FieldError, ValidationFailed
from service.settings import Settings, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = b"dinsos-exchange-webhooks/1"

# Answers are read this far, for the log; the rest is dropped with the connection.
ANSWER_CAP = 4096

# Instance metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud. All lie in
# ranges refused anyway; named so the log says what was aimed at.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0

    @staticmethod
    def from_settings(settings: Settings) -> TargetPolicy:
        return TargetPolicy(
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private_targets,
            connect_timeout=settings.webhook_connect_timeout_seconds,
            read_timeout=settings.webhook_read_timeout_seconds,
            write_timeout=settings.webhook_write_timeout_seconds,
        )

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.allow_http else ("https",)


class RefusedTarget(Exception):
    """The target may not be sent to; the message says why, for the delivery log."""


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is no webhook target (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        # Whatever else the registries say is not globally reachable (documentation ranges,
        # 6to4 of private space...).
        ("non-public", not address.is_global),
    )
    return next((name for name, applies in checks if applies), None)


def check_target_url(url: str, policy: TargetPolicy | None = None) -> str:
    """``url`` if it may be subscribed to; otherwise a 422 naming the field ``url``. The
    address check is repeated at every delivery, on what the name resolves to then."""
    policy = policy or TargetPolicy.from_settings(get_settings())

    def refuse(code: str, message: str) -> ValidationFailed:
        return ValidationFailed(errors=[FieldError("url", code, message)])

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise refuse("invalid_url", "The URL cannot be parsed.") from None
    if parts.scheme not in policy.schemes:
        raise refuse("https_required", "The target URL must start with https://.")
    if not parts.hostname:
        raise refuse("host_required", "The target URL must name a host.")
    if parts.username is not None or parts.password is not None:
        raise refuse(
            "credentials_in_url",
            "The target URL may not carry a user name or password; verify the signature.",
        )
    try:
        literal: IPAddress | None = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not policy.allow_private:
        reason = refusal_reason(literal)
        if reason is not None:
            raise refuse("private_target", f"The target is a {reason} address.")
    return url


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the delivery-time address check: resolve once, refuse
    when any address is not public, connect to the checked address itself."""

    def __init__(self, policy: TargetPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        if not self._policy.allow_private:
            for address in addresses:
                reason = refusal_reason(address)
                if reason is not None:
                    named = host if str(address) == host else f"{host} resolves to {address},"
                    raise RefusedTarget(f"{named} is a {reason} address".replace(", is", ","))
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("webhooks are not sent to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # Scope ids (fe80::1%eth0) are dropped: such addresses are refused as link-local.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        return addresses


@dataclass(frozen=True)
class Answer:
    """What came of one request: the status code and the start of the body, or the error."""

    status_code: int | None
    body: bytes
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class TargetClient:
    """Posts webhook messages under ``policy``; one per dispatcher, keeping connections alive
    per origin (each one was opened to a checked address)."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        max_connections: int = 100,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            # The CA bundle httpx uses, so slim container images verify the same as a desktop.
            ssl_context=ssl_context or ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
            network_backend=GuardedNetworkBackend(policy),
            retries=0,
        )

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        started = time.monotonic()

        def answer(status: int | None, content: bytes, error: str | None) -> Answer:
            elapsed = int((time.monotonic() - started) * 1000)
            return Answer(status, content, error, elapsed)

        if urlsplit(url).scheme not in self._policy.schemes:
            return answer(None, b"", "refused: the target URL is not https")
        policy = self._policy
        timeouts = {
            "connect": policy.connect_timeout,
            "pool": policy.connect_timeout,
            "read": policy.read_timeout,
            "write": policy.write_timeout,
        }
        # Each phase has its timeout; the whole request has their sum, so a receiver that
        # trickles its answer byte by byte cannot hold a delivery forever either.
        deadline = policy.connect_timeout + policy.write_timeout + policy.read_timeout
        try:
            async with asyncio.timeout(deadline):
                async with self._pool.stream(
                    "POST",
                    url,
                    headers=[
                        *((name.encode(), value.encode()) for name, value in headers.items()),
                        (b"content-type", b"application/json"),
                        (b"user-agent", USER_AGENT),
                    ],
                    content=body,
                    extensions={"timeout": timeouts},
                ) as response:
                    content = b""
                    async for chunk in response.aiter_stream():
                        content += chunk
                        if len(content) >= ANSWER_CAP:
                            break
                    return answer(response.status, content[:ANSWER_CAP], None)
        except RefusedTarget as refused:
            return answer(None, b"", f"refused: {refused}")
        except (TimeoutError, httpcore.TimeoutException) as error:
            return answer(None, b"", f"timeout: {type(error).__name__} {error}".strip())
        except (httpcore.NetworkError, httpcore.ProtocolError, ssl.SSLError, OSError) as error:
            return answer(None, b"", f"{type(error).__name__}: {error}")
        except (httpcore.UnsupportedProtocol, httpcore.LocalProtocolError) as error:
            return answer(None, b"", f"invalid target: {error}")

    async def close(self) -> None:
        await self._pool.aclose()
