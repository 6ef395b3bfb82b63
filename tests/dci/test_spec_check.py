"""The spec checker itself: it accepts the spec's own shapes and refuses what breaks them, so a
test that passes through it has really been checked."""

from __future__ import annotations

import pytest

from tests.dci.spec_check import assert_request_valid, assert_response_valid


def search_request() -> dict[str, object]:
    return {
        "header": {
            "version": "1.0.0",
            "message_id": "m-1",
            "message_ts": "2026-11-30T10:00:00Z",
            "action": "search",
            "sender_id": "spmis.example.org",
            "total_count": 1,
        },
        "message": {
            "transaction_id": "t-1",
            "search_request": [
                {
                    "reference_id": "r-1",
                    "timestamp": "2026-11-30T10:00:00+07:00",
                    "search_criteria": {
                        "query_type": "idtype-value",
                        "query": {"type": "NIK", "value": "3328021403850001"},
                    },
                }
            ],
        },
    }


def test_a_valid_search_request_passes() -> None:
    assert_request_valid("/registry/sync/search", search_request())


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (lambda body: body["header"].pop("message_id"), "header"),
        (lambda body: body["header"].update(action="subscribe"), "header"),
        (lambda body: body["header"].update(message_ts="yesterday"), "message_ts"),
        (lambda body: body["message"]["search_request"][0].pop("reference_id"), "message"),
    ],
)
def test_a_broken_request_is_refused(breakage: object, where: str) -> None:
    body = search_request()
    breakage(body)  # type: ignore[operator]
    with pytest.raises(AssertionError, match="does not match the DCI spec"):
        assert_request_valid("/registry/sync/search", body)


def test_responses_follow_their_status() -> None:
    assert_response_valid(
        "/registry/sync/search", 401, {"errors": [{"code": "err.request.unauthorized"}]}
    )
    with pytest.raises(AssertionError):
        assert_response_valid(
            "/registry/sync/search",
            200,
            {"header": {"message_id": "x", "action": "on-search", "status": "succ"}},
        )
    with pytest.raises(AssertionError, match="not a path"):
        assert_request_valid("/registry/sync/nothing", {})
