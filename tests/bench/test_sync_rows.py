"""bench.sync_rows reads the server's counters of the database it is given."""

from __future__ import annotations

from agora_bridge.storage import db
from bench.sync_rows import COUNTERS, counters
from tests.conftest import throwaway_pg_database


async def test_the_counters_are_the_databases_and_its_tables() -> None:
    async with throwaway_pg_database() as url:
        engine = db.make_engine(url)
        try:
            await db.upgrade(engine)
        finally:
            await engine.dispose()
        totals, tables = await counters(url)
    assert set(totals) == set(COUNTERS)
    assert all(value >= 0 for value in totals.values())
    assert "livraison" in tables  # a migrated database
