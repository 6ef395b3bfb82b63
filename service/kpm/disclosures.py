"""Answers that name the regency of a family outside the caller's region.

De-duplication needs them (a NIK or No KK is held by one live family only), but they answer
"is this NIK registered, and where?" for any guessed number. Each such answer is kept in the
audit trail (never the number itself) and counted against a rate of its own per client
(``DINSOS_RATE_LIMIT_IDENTITY_DISCLOSURES_PER_CLIENT``), over which the answer is a 429 that
names nothing. The refusal rolls its request's transaction back, so the door keeps the entries
in a transaction of their own, after it (``keep_disclosures``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.errors import Conflict, FieldError, TooManyRequests
from service.journal import Write, record_writes
from service.rate_limits import RateLimits

ACTION = "disclose_regency"


@dataclass(frozen=True)
class Disclosure:
    field: str  # e.g. ``members.2.nik``: which number of the request matched
    family_id: uuid.UUID  # the family holding it (for the auditors, not the caller)
    village_code: str


class IdentityConflict(Conflict):
    """The 409 of a NIK or No KK already held, with what it disclosed outside the caller's
    region (possibly nothing)."""

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        errors: list[FieldError],
        caller: Caller,
        disclosed: list[Disclosure],
    ) -> None:
        super().__init__(detail, code=code, errors=errors)
        self.caller = caller
        self.disclosed = disclosed


def disclosure_writes(disclosed: list[Disclosure]) -> list[Write]:
    """The audit entries of ``disclosed``: the family holding the number, its village, and the
    field of the request that matched; never the number."""
    return [
        Write(ACTION, "kpm", item.family_id, item.village_code, None, {"field": [None, item.field]})
        for item in disclosed
    ]


async def allowed_disclosures(rate_limits: RateLimits | None, caller: Caller, wanted: int) -> int:
    """How many of ``wanted`` regency answers the caller may still be given, each counted (an
    import may name many at once; the rest are answered without the regency)."""
    if rate_limits is None:  # an operator's own import, from the command line
        return wanted
    for allowed in range(wanted):
        try:
            await rate_limits.hit_identity_disclosure(str(caller.client_id))
        except TooManyRequests:
            return allowed
    return wanted


async def keep_disclosures(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    rate_limits: RateLimits,
    refusal: IdentityConflict,
) -> None:
    """Count the answer against the caller's rate (raising ``TooManyRequests`` over it, so the
    regency is not named), then audit one entry per family disclosed, committed before the
    answer leaves."""
    if not refusal.disclosed:
        return
    caller = refusal.caller
    await rate_limits.hit_identity_disclosure(str(caller.client_id))
    async with sessions() as session, session.begin():
        await record_writes(session, caller, disclosure_writes(refusal.disclosed), publish=False)
