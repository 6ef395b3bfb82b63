"""Optimistic concurrency: a change must name the version it was based on.

Writers lock the row (``SELECT ... FOR UPDATE``) before comparing, so two clients holding the
same version cannot both pass: the second waits, then sees the new version and gets 412.
"""

from __future__ import annotations

from service.errors import PreconditionFailed, PreconditionRequired


def ensure_version(current: int, expected: int | None) -> None:
    if expected is None:
        raise PreconditionRequired(
            "Send If-Match with the record's ETag, so a change made meanwhile is not overwritten.",
            code="if_match_required",
        )
    if expected != current:
        raise PreconditionFailed(
            "The record changed since you read it; fetch it again and reapply your change.",
            code="version_mismatch",
            params={"current_version": current},
        )
