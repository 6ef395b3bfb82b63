"""Tokens already verified, remembered by their text until they expire: a client sends the same
token with every request for its whole life, and verifying its signature and claims each time
cost more than the rest of checking the caller. What the token names is still checked against
the client as it is now on every request (``service.auth.service.caller_from_token``)."""

from __future__ import annotations

import time

from service.auth.tokens import TokenClaims, TokenKeys

# The most tokens remembered; past it, the oldest are forgotten first.
CAPACITY = 50_000


class TokenCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._claims: dict[str, TokenClaims] = {}
        self._keys: TokenKeys | None = None

    def get(self, token: str, keys: TokenKeys) -> TokenClaims | None:
        """The claims of ``token`` if it was verified with these very ``keys`` (a key dropped
        from them is no longer trusted) and has not expired."""
        if keys is not self._keys:
            self._claims.clear()
            self._keys = keys
        claims = self._claims.get(token)
        if claims is not None and claims.expires_at <= time.time():
            # Expired: verified again, it answers ``token_expired`` as it always did.
            del self._claims[token]
            return None
        return claims

    def put(self, token: str, claims: TokenClaims) -> None:
        if len(self._claims) >= self._capacity:
            # Dicts keep insertion order: the first key is the longest remembered.
            self._claims.pop(next(iter(self._claims)))
        self._claims[token] = claims
