"""What one statement costs through SQLAlchemy's async session, through the sync engine's
executor (`storage/executor.py`), and through asyncpg alone.

    .venv/bin/python -m bench.statement_overhead [--statements 3000]

`SELECT 1` on a PostgreSQL connection (AGORA_BRIDGE_TEST_PG_URL, else the local test
database), under uvloop as `sync` runs: the wall time a statement, round trip included, for
an `AsyncSession.execute` of a prebuilt Core statement, for the executor's `rows` of it (what
the engine's claims, loads and group commits use) and for asyncpg's `fetch` on the same
connection. The differences are the price of each layer a statement.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import uvloop
from sqlalchemy import literal, select

from agora_bridge.storage import db
from agora_bridge.storage.executor import DriverTransaction

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def measure(url: str, count: int) -> tuple[float, float, float]:
    """Microseconds a statement: (SQLAlchemy session, the executor, asyncpg alone)."""
    engine = db.make_engine(url)
    statement = select(literal(1))
    try:
        async with db.make_sessionmaker(engine)() as session:
            await session.execute(statement)  # compiled and prepared once
            started = time.perf_counter()
            for _ in range(count):
                await session.execute(statement)
            through_session = (time.perf_counter() - started) / count
            raw = await (await session.connection()).get_raw_connection()
            driver: Any = raw.driver_connection
            executor = DriverTransaction(driver, engine.dialect)
            await executor.rows(statement)  # compiled once
            started = time.perf_counter()
            for _ in range(count):
                await executor.rows(statement)
            through_executor = (time.perf_counter() - started) / count
            started = time.perf_counter()
            for _ in range(count):
                await driver.fetch("SELECT 1")
            alone = (time.perf_counter() - started) / count
    finally:
        await engine.dispose()
    return through_session * 1e6, through_executor * 1e6, alone * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=3000)
    arguments = parser.parse_args()
    url = os.environ.get("AGORA_BRIDGE_TEST_PG_URL", DEFAULT_URL)
    session_us, executor_us, driver_us = uvloop.run(measure(url, arguments.statements))
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}: a statement through "
        f"SQLAlchemy's AsyncSession {session_us:.0f} µs, through the engine's executor "
        f"{executor_us:.0f} µs, asyncpg alone {driver_us:.0f} µs"
    )


if __name__ == "__main__":
    main()
