"""Placeholder."""

from __future__ import annotations

from bench.context import BenchContext
from bench.pairs import Pair
from bench.results import PairResult


async def run(context: BenchContext) -> PairResult:
    raise NotImplementedError


PAIR = Pair("import", "todo", run, default=False)
