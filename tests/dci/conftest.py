"""The DCI tests make a few clients each and never present their secrets: a cheap hash."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cheap_clients(cheap_secret_hashing: None) -> None:
    return None
