"""The rules of a disbursement's life, in one place for the API, batches and reconciliation
files: which status may follow which, what each move does to the allocation's sums, and what
each refusal answers."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import Conflict, DomainError, FieldError, Forbidden, ValidationFailed

ENTITY = "disbursement"
READ_SCOPE = "disbursements:read"
WRITE_SCOPE = "disbursements:write"

# Only these moves exist. A failed or reversed payment is final: paying again is a new
# disbursement (which the freed budget and the freed period allow).
TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"sent"}),
    "sent": frozenset({"confirmed", "failed"}),
    "confirmed": frozenset({"reversed"}),
    "failed": frozenset(),
    "reversed": frozenset(),
}


def may_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def money_effect(from_status: str, to_status: str, amount: int) -> tuple[int, int]:
    """How a move changes the allocation's (committed, confirmed) sums. A failed or reversed
    payment frees its budget; a confirmed one counts as paid (realisasi)."""
    committed = -amount if to_status in ("failed", "reversed") else 0
    confirmed = (amount if to_status == "confirmed" else 0) - (
        amount if from_status == "confirmed" else 0
    )
    return committed, confirmed


def period_year(period: str) -> int:
    return int(period[:4])


@dataclass(frozen=True)
class Refusal:
    """Why one disbursement is not created: a batch reports it per item, a single request
    raises it as the matching error (``as_error``)."""

    code: str
    field: str
    message: str

    def as_error(self) -> DomainError:
        errors = [FieldError(self.field, self.code, self.message)]
        if self.code == "outside_region":
            return Forbidden(
                "The record's region lies outside the region this client is bound to.",
                code=self.code,
                errors=errors,
            )
        if self.code in _CONFLICTS:
            return Conflict(self.message, code=self.code, errors=errors)
        return ValidationFailed(errors=errors)


# Refusals that depend on the state of other records, not on the request itself.
_CONFLICTS = frozenset(
    {"allocation_exhausted", "duplicate_disbursement", "duplicate_external_reference"}
)


def invalid_transition(from_status: str, to_status: str) -> Conflict:
    return Conflict(
        f"A disbursement that is {from_status} cannot become {to_status}.",
        code="invalid_transition",
        params={"from": from_status, "to": to_status},
    )
