"""Access tokens. The only module that touches python-jose: HS256 pinned, ``kid`` in the header
so keys can rotate, ``iss``/``aud``/``exp``/``iat``/``sub`` required on every token read.

A token issued in the future (``iat`` more than ``CLOCK_LEEWAY_SECONDS`` ahead of this clock) is
refused: we never issue one, so it is forged with a leaked key or minted to outlive a rotation.
So is any token with a ``crit`` header: it names extensions the reader must understand, and this
reader understands none (RFC 7515, section 4.1.11)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from jose import JWTError, jwt

from service.errors import Unauthorized

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")
# How far the clock of the replica that issued a token may run ahead of this one's.
CLOCK_LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class TokenKeys:
    """The signing key and the keys still accepted for verification, by ``kid``."""

    current_kid: str
    keys: dict[str, str]
    issuer: str
    audience: str


@dataclass(frozen=True)
class TokenClaims:
    client_id: uuid.UUID
    scopes: frozenset[str]
    region_code: str | None
    secret_generation: int
    expires_at: int


def issue_token(
    keys: TokenKeys,
    *,
    client_id: uuid.UUID,
    scopes: list[str],
    region_code: str | None,
    secret_generation: int,
    ttl_seconds: int,
) -> str:
    now = int(time.time())
    claims = {
        "iss": keys.issuer,
        "aud": keys.audience,
        "sub": str(client_id),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
        "region": region_code,
        "gen": secret_generation,
    }
    return str(
        jwt.encode(
            claims,
            keys.keys[keys.current_kid],
            algorithm=ALGORITHM,
            headers={"kid": keys.current_kid},
        )
    )


def read_token(keys: TokenKeys, token: str) -> TokenClaims:
    """The claims of a valid token; anything else is ``Unauthorized`` with no detail to probe."""
    try:
        header = jwt.get_unverified_header(token)
        key = keys.keys.get(str(header.get("kid")))
        if key is None or header.get("alg") != ALGORITHM or "crit" in header:
            raise Unauthorized("The access token is invalid.", code="invalid_token")
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=keys.audience,
            issuer=keys.issuer,
            options={f"require_{name}": True for name in _REQUIRED_CLAIMS},
        )
        if int(claims["iat"]) > time.time() + CLOCK_LEEWAY_SECONDS:
            raise Unauthorized("The access token is invalid.", code="invalid_token")
        return TokenClaims(
            client_id=uuid.UUID(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            region_code=claims.get("region"),
            secret_generation=int(claims["gen"]),
            expires_at=int(claims["exp"]),
        )
    except Unauthorized:
        raise
    except (JWTError, KeyError, ValueError, TypeError) as error:
        code = "token_expired" if "expired" in str(error).lower() else "invalid_token"
        raise Unauthorized("The access token is invalid or expired.", code=code) from None
