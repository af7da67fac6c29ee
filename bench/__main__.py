"""`make bench`: every benchmark of this folder, one after the other, each printing a table."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench.validate_memory",
    "bench.mock_throughput",
    "bench.api_keys",
    "bench.ingest_api",
    "bench.statement_overhead",
    "bench.sync",
    "bench.sync_rows",
    "bench.orientation",
    "bench.backfill",
]


def main() -> None:
    for module in BENCHMARKS:
        print(f"\n== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module], check=True)  # noqa: S603 (our modules)


if __name__ == "__main__":
    main()
