"""Domain errors. Each carries its HTTP status and a stable machine code; both doors render them
(REST as problem+json, GraphQL as errors with the same code in ``extensions``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The one English wording of a refusal for invalid fields, whether the service or the door
# (request parsing) refuses them; its Indonesian counterpart is in the doors' catalogue.
INVALID_FIELDS = "The request has invalid fields; see errors."


@dataclass
class FieldError:
    field: str
    code: str
    message: str


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # The detail when none is given; the title otherwise.
    default_detail: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail or self.title
        if code is not None:
            self.code = code
        self.errors = errors or []
        # Values the message catalogue may interpolate (never personal data).
        self.params = params or {}
        super().__init__(self.detail)


class BadRequest(DomainError):
    """A request the protocol itself refuses with 400 (RFC 6749 section 5.2 for the token
    endpoint), where a field that fails its rules elsewhere is a 422."""

    status, code, title = 400, "invalid_request", "Bad request"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"

    @classmethod
    def of(cls, entity: str) -> NotFound:
        """The one wording for a missing record, also used for records outside the caller's
        region, so that the answer cannot tell the two apart."""
        return cls(f"No {entity} with that identifier.", params={"entity": entity})


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(DomainError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PreconditionRequired(DomainError):
    status, code, title = 428, "precondition_required", "Precondition required"


class ValidationFailed(DomainError):
    status, code, title = 422, "validation_failed", "Validation failed"
    default_detail = INVALID_FIELDS


@dataclass
class ErrorList:
    """Collects field errors so a request is refused once, with every problem named."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(field_name, code, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(errors=self.errors)


class ContentTooLarge(DomainError):
    status, code, title = 413, "content_too_large", "Content too large"


class Gone(DomainError):
    status, code, title = 410, "gone", "Gone"


class TooManyRequests(DomainError):
    """A rate limit is reached; ``retry_after`` is when the next request may pass, in seconds."""

    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or "Too many requests; retry after the time in Retry-After.")
        self.retry_after = retry_after
