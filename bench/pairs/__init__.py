"""The pairs: each module measures the service against a baseline doing the same work and
exposes a ``PAIR``. A new pair is a new module here plus one line in ``PAIRS``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.context import BenchContext
from bench.results import PairResult


@dataclass(frozen=True)
class Pair:
    key: str
    title: str
    run: Callable[[BenchContext], Awaitable[PairResult]]
    # Part of a plain `make bench`; the slow ones run when asked for by name (or with --all).
    default: bool = True


def all_pairs() -> dict[str, Pair]:
    from bench.pairs import (
        change_feed,
        dci_search,
        disbursement_batch,
        disbursement_payments,
        family_list,
        graphql_family,
        kpm_export,
        kpm_export_xlsx,
        kpm_import,
        kpm_read,
        kpm_write,
        regions,
        webhook_fanout,
    )

    pairs = (
        regions.PAIR,
        kpm_read.PAIR,
        graphql_family.PAIR,
        family_list.PAIR,
        disbursement_batch.PAIR,
        disbursement_payments.PAIR,
        kpm_import.PAIR,
        kpm_export.PAIR,
        kpm_export_xlsx.PAIR,
        change_feed.PAIR,
        kpm_write.PAIR,
        webhook_fanout.PAIR,
        dci_search.PAIR,
    )
    return {pair.key: pair for pair in pairs}
