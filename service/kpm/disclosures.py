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
from service.errors import Conflict, FieldError
from service.journal import record_write
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
        for disclosure in refusal.disclosed:
            await record_write(
                session,
                caller,
                action=ACTION,
                entity="kpm",
                record_id=disclosure.family_id,
                region_code=disclosure.village_code,
                version=None,
                changes={"field": [None, disclosure.field]},
                publish=False,
            )
