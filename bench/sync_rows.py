"""PostgreSQL's work for the sync engine, counted by the server: rows read and written a call.

    .venv/bin/python -m bench.sync_rows [--dossiers 2000]

A throwaway database, `--dossiers` synthetic dossiers (four versions each) through the ingest
route, then `agora-bridge sync --once` against the mock in its own process; around it, the
database's counters (`pg_stat_database`, `pg_stat_user_tables`) divided by the AGORA calls
the mock served. Rows read per call far above a handful mean a statement that scans.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

import httpx
from sqlalchemy import text

from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.synthetic.histories import histories
from bench.api_keys import throwaway_database
from bench.floor import mock_process
from bench.ingest_api import ingest_client
from bench.sync import agora_calls, by_version, ingest_all, sync_environment

COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_fetched", "tup_returned")
_DATABASE = (
    "SELECT xact_commit, tup_inserted, tup_updated, tup_fetched, tup_returned"
    " FROM pg_stat_database WHERE datname = current_database()"
)
_TABLES = "SELECT relname, n_tup_ins, n_tup_upd, seq_scan, idx_scan FROM pg_stat_user_tables"
_STATS_DELAY_S = 1.5  # a backend reports its counters within a second of going idle


async def counters(url: str) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    engine = db.make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = (await connection.execute(text(_DATABASE))).one()
            tables = {r[0]: tuple(r[1:]) for r in (await connection.execute(text(_TABLES)))}
    finally:
        await engine.dispose()
    return dict(zip(COUNTERS, row, strict=True)), tables


async def main(dossiers: int) -> None:
    async with mock_process() as mock, throwaway_database() as url:
        lines = by_version(list(histories(dossiers, seed=1, today=paris_today())))
        async with ingest_client(url) as ingest:
            await ingest_all(ingest, lines, 1000)
        await asyncio.sleep(_STATS_DELAY_S)
        before, tables_before = await counters(url)
        async with httpx.AsyncClient(base_url=mock.url) as control:
            first = await agora_calls(control)
            command = [sys.executable, "-m", "agora_bridge", "sync", "--once"]
            subprocess.run(command, env=sync_environment(url, mock.url), check=True)  # noqa: S603
            calls = await agora_calls(control) - first
        await asyncio.sleep(_STATS_DELAY_S)
        after, tables_after = await counters(url)
    print(f"{calls:,} AGORA calls; per call:")
    for name in COUNTERS:
        print(f"  {name:13s} {(after[name] - before[name]) / calls:8.2f}")
    print("  table: rows inserted, updated, sequential scans, index scans")
    for table, values in sorted(tables_after.items()):
        earlier = tables_before.get(table, (0,) * len(values))
        spent = [(v - e) / calls for v, e in zip(values, earlier, strict=True)]
        if any(spent):
            print(f"  {table:13s} " + " ".join(f"{v:6.2f}" for v in spent))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=2000)
    asyncio.run(main(parser.parse_args().dossiers))
