"""The delivery soak of `tests/delivery/test_soak.py`, bigger: a sanity figure for the engine.

    .venv/bin/python -m bench.sync_soak [--dossiers 1000] [--backend sqlite|postgresql]
                                        [--no-faults] [--concurrency 16]

Ingests every version of `--dossiers` seeded histories (shuffled, with stale re-sends) while
one engine delivers them to the mock in the same process, then checks the end state as the
test does and prints the AGORA calls a second. Not the benchmark of `operations.md` (the
mock in its own process, a bare client beside): that one is `bench/sync.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from agora_bridge.logs import configure_logging
from tests.conftest import sqlite_url, throwaway_pg_database
from tests.delivery.checks import assert_end_state, ingest_concurrently
from tests.delivery.harness import Bridge, delivery
from tests.delivery.histories import deliveries, history
from tests.delivery.test_soak import FAULTS


async def soak(bridge: Bridge, dossiers: int, *, faults: bool, concurrency: int) -> None:
    rng = random.Random(5)  # noqa: S311 (a seeded sequence is the point)
    histories = [history(rng, n) for n in range(dossiers)]
    if faults:
        await bridge.faults(FAULTS)
    engine = bridge.engine(concurrency=concurrency, retry_base_s=0.05, retry_cap_s=0.5)
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(engine.run_forever(stop))
    await ingest_concurrently(bridge, deliveries(rng, histories, stale=dossiers))
    engine.wake()
    while await bridge.pending():
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    stop.set()
    await running
    await bridge.faults({})
    await assert_end_state(bridge, histories)
    calls = len(bridge.transport.sent)
    print(f"{dossiers} dossiers, {calls} AGORA calls in {elapsed:.1f} s: {calls / elapsed:.0f}/s")


async def main(args: argparse.Namespace) -> None:
    if args.backend == "postgresql":
        async with throwaway_pg_database() as url, delivery(url) as bridge:
            await soak(bridge, args.dossiers, faults=args.faults, concurrency=args.concurrency)
        return
    with tempfile.TemporaryDirectory() as directory:
        async with delivery(sqlite_url(Path(directory))) as bridge:
            await soak(bridge, args.dossiers, faults=args.faults, concurrency=args.concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-faults", dest="faults", action="store_false")
    parser.add_argument("--concurrency", type=int, default=16)
    configure_logging(level="WARNING", fmt="console")
    asyncio.run(main(parser.parse_args()))
