from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.problems import TOKEN_PATH, problem_responses
from schemas.auth import TokenOut
from service.auth.scopes import parse_scopes
from service.auth.service import grant_token
from service.errors import BadRequest, FieldError, Unauthorized

router = APIRouter(tags=["auth"])


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Malformed Basic credentials.", code="invalid_client") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthorized("Malformed Basic credentials.", code="invalid_client")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id), unquote(secret)


@router.post(
    TOKEN_PATH,
    operation_id="issueToken",
    response_model=TokenOut,
    responses=problem_responses(400, 401),
    summary="Get an access token (client credentials)",
)
async def issue_token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[str, Form(description="Always `client_credentials`.")],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[
        str | None, Form(description="Space-separated scopes; all of the client's when omitted.")
    ] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    """OAuth2 client-credentials grant (RFC 6749 section 4.4).

    Authenticate with HTTP Basic (`client_secret_basic`) or with `client_id` and `client_secret`
    in the form body (`client_secret_post`). The answer is a short-lived bearer JWT to send as
    `Authorization: Bearer ...`; ask for a new one when it expires (there is no refresh token).

    Refusals follow RFC 6749 section 5.2: 400 with `error` `invalid_request` (a missing or
    malformed parameter, named in `errors`), `unsupported_grant_type` or `invalid_scope`; 401
    with `invalid_client` when the client cannot be authenticated. Attempts are rate-limited
    per address and per client id (the right secret too, while limited): 429 `rate_limited`
    with `Retry-After`.
    """
    if grant_type != "client_credentials":
        raise BadRequest(
            "Only the client_credentials grant is supported.",
            code="unsupported_grant_type",
            errors=[FieldError("grant_type", "unsupported_grant_type", "Only client_credentials.")],
        )
    credentials = _basic_credentials(authorization)
    if credentials is None:
        if not client_id or not client_secret:
            raise Unauthorized("Send the client's id and secret.", code="invalid_client")
        credentials = (client_id, client_secret)
    settings = request.app.state.settings
    # Per address first, before the client is even looked up; then per client id inside the
    # grant, before the secret is hashed. Behind a proxy, run uvicorn with --proxy-headers and
    # --forwarded-allow-ips so the address is the caller's, not the proxy's.
    address = request.client.host if request.client is not None else "unknown"
    await request.app.state.rate_limits.hit_token_address(address)
    issued = await grant_token(
        session,
        request.app.state.token_keys,
        client_id=credentials[0],
        client_secret=credentials[1],
        requested_scopes=parse_scopes(scope),
        ttl_seconds=settings.token_ttl_seconds,
        rate_limits=request.app.state.rate_limits,
    )
    body = TokenOut(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        scope=" ".join(issued.scopes),
    )
    # RFC 6749 section 5.1: token responses must not be cached.
    return JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )
