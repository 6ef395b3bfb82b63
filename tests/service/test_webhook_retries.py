"""Retry timing of webhook deliveries: exponential backoff with full jitter, and the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.webhooks.retries import RetryPolicy

POLICY = RetryPolicy(base_seconds=10, max_seconds=3600, window_seconds=25 * 3600)


def test_each_wait_is_drawn_from_zero_to_a_doubling_ceiling_capped_at_the_maximum() -> None:
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (200, 3600)]:
        waits = [POLICY.wait_after(attempts).total_seconds() for _ in range(400)]
        assert all(0 <= wait <= ceiling for wait in waits)
        # Full jitter: spread over the whole range, not bunched at the ceiling.
        assert min(waits) < ceiling * 0.1
        assert max(waits) > ceiling * 0.9


def test_a_delivery_is_given_up_once_the_window_has_passed_since_its_first_try() -> None:
    first = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert not POLICY.gives_up(first, first + timedelta(hours=24, minutes=59))
    assert POLICY.gives_up(first, first + timedelta(hours=25))
