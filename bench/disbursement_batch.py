"""``python -m bench.disbursement_batch``: the disbursement batch pair of the harness alone, the
same as ``python -m bench.run --only batch`` (options as ``python -m bench.run --help``). The
pair itself (10,000 items through ``POST /api/v1/disbursements/batches`` against raw asyncpg
``executemany`` and COPY of the same rows) is ``bench/pairs/disbursement_batch.py``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench.run import main as run_main


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(["--only", "batch", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
