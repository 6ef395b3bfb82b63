"""The DCI reason codes this service answers, and the one exception that carries them.

Two families, as the spec has them: ``rjct.*`` status reason codes (``MsgHeaderStatusReasonCode``
for the envelope, ``SearchStatusReasonCode`` per search item, the subscription ones), answered
in a message with ``status: rjct`` and HTTP 200; and ``err.*`` transport ``Error`` codes
(signature, authentication), answered as the spec's ``HttpErrorResponse`` with a 4xx.
A message never echoes a personal value (a NIK, a No KK) the sender sent.
"""

from __future__ import annotations

# MsgHeaderStatusReasonCode: the envelope.
VERSION_INVALID = "rjct.version.invalid"
MESSAGE_ID_DUPLICATE = "rjct.message_id.duplicate"
MESSAGE_TS_INVALID = "rjct.message_ts.invalid"
ACTION_INVALID = "rjct.action.invalid"
ACTION_NOT_SUPPORTED = "rjct.action.not_supported"
TOTAL_COUNT_INVALID = "rjct.total_count.invalid"
TOTAL_COUNT_LIMIT_EXCEEDED = "rjct.total_count.limit_exceeded"

# SearchStatusReasonCode: one search request of a batch.
REFERENCE_ID_INVALID = "rjct.reference_id.invalid"
REFERENCE_ID_DUPLICATE = "rjct.reference_id.duplicate"
TIMESTAMP_INVALID = "rjct.timestamp.invalid"
SEARCH_CRITERIA_INVALID = "rjct.search_criteria.invalid"
FILTER_INVALID = "rjct.filter.invalid"
SORT_INVALID = "rjct.sort.invalid"
PAGINATION_INVALID = "rjct.pagination.invalid"
TOO_MANY_RECORDS = "rjct.search.too_many_records_found"

# Error (transport): answered with an HTTP 4xx and ``{"errors": [{code, message}]}``.
REQUEST_BAD = "err.request.bad"
REQUEST_UNAUTHORIZED = "err.request.unauthorized"
REQUEST_FORBIDDEN = "err.request.forbidden"
REQUEST_NOT_FOUND = "err.request.not_found"
TOO_MANY_REQUESTS = "err.request.too_many_requests"
SERVICE_UNAVAILABLE = "err.service.unavailable"
SENDER_ID_INVALID = "err.sender_id.invalid"
RECEIVER_ID_INVALID = "err.receiver_id.invalid"
SIGNATURE_MISSING = "err.signature.missing"
SIGNATURE_INVALID = "err.signature.invalid"
ENCRYPTION_INVALID = "err.encryption.invalid"

# The envelope's codes, which the header carries (``MsgHeaderStatusReasonCode``); any other
# ``rjct`` code of a whole message is answered per item.
HEADER_CODES = frozenset(
    {
        VERSION_INVALID,
        MESSAGE_ID_DUPLICATE,
        MESSAGE_TS_INVALID,
        ACTION_INVALID,
        ACTION_NOT_SUPPORTED,
        TOTAL_COUNT_INVALID,
        TOTAL_COUNT_LIMIT_EXCEEDED,
    }
)


class DciRejection(Exception):
    """A DCI message (or one request of it) refused: ``code`` is a spec reason code,
    ``message`` says why without repeating personal values, ``http_status`` is 200 for a
    ``rjct`` answered in a message and the 4xx of an ``err`` answered as ``HttpErrorResponse``."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else _status_of(code)

    @property
    def is_error(self) -> bool:
        """An ``err.*`` transport error rather than a ``rjct.*`` status."""
        return self.code.startswith("err.")


def _status_of(code: str) -> int:
    # The spec's registry paths answer errors as 401 and 403 only (and 500); everything else is
    # a message (``default``), so an ``err`` that is not about authentication (rate limits
    # included) is a 403, and the service's own unavailability a 500.
    if not code.startswith("err."):
        return 200
    return {
        REQUEST_UNAUTHORIZED: 401,
        SIGNATURE_MISSING: 401,
        SIGNATURE_INVALID: 401,
        SERVICE_UNAVAILABLE: 500,
    }.get(code, 403)
