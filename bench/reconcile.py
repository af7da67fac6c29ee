"""`reconcile --all` and `--sample`: reads per second flat out, peak RSS, and the rate ceiling.

    .venv/bin/python -m bench.reconcile [--dossiers 5000] [--sample 300] [--max-rps 50]
                                        [--backend sqlite postgresql]

The AGORA mock runs in its own process, no faults. For each database (a SQLite file, a
throwaway PostgreSQL database): `--dossiers` synthetic dossiers (each one's last version) are
imported and delivered (`agora-bridge import`, then `sync --once`, no rate ceiling); then
`agora-bridge reconcile --all --json` runs in its own process with no rate ceiling (reads per
second over the run's own times, `runs.last_run`; its peak RSS from `wait4`), then `--sample`
with `AGORA__MAX_RPS=--max-rps` (its reads per second must not exceed the ceiling). Each run
must find no drift.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agora_bridge.reconciliation.runs import last_run
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.synthetic.histories import histories
from bench.api_keys import throwaway_database
from bench.floor import mock_process
from bench.sync import sync_environment


@dataclass(frozen=True, slots=True)
class Run:
    report: dict[str, Any]
    seconds: float  # the process's, start-up included
    peak_rss_mb: float


async def reads_per_s(url: str) -> float:
    """The last run's reads over its own time (`runs.last_run`): start-up left out."""
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            last = await last_run(session)
    finally:
        await engine.dispose()
    assert last is not None
    started, finished = (datetime.fromisoformat(last[k]) for k in ("started_at", "finished_at"))
    return float(last["lus"]) / (finished - started).total_seconds()


def command(env: dict[str, str], *arguments: str) -> Run:
    """One `agora-bridge` command in its own process: its output, time and peak RSS."""
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "agora_bridge", *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{arguments[0]} exited with status {process.returncode}")
    report = json.loads(output) if "--json" in arguments else {}
    return Run(report, seconds, usage.ru_maxrss / 1024)


def snapshot_file(directory: Path, dossiers: int) -> Path:
    path = directory / "dossiers.jsonl"
    with path.open("w") as out:
        for versions in histories(dossiers, seed=11, today=paris_today()):
            out.write(versions[-1] + "\n")
    return path


@asynccontextmanager
async def database(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bridge.db'}"
        return
    async with throwaway_database() as url:
        yield url


async def measure(backend: str, args: argparse.Namespace) -> tuple[Run, float, Run, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source = snapshot_file(directory, args.dossiers)
        async with mock_process() as mock, database(backend, directory) as url:
            env = sync_environment(url, mock.url)
            for arguments in (("db", "upgrade"), ("import", str(source)), ("sync", "--once")):
                await asyncio.to_thread(command, env, *arguments)
            every = await asyncio.to_thread(command, env, "reconcile", "--all", "--json")
            every_rate = await reads_per_s(url)
            limited_env = env | {"AGORA_BRIDGE_AGORA__MAX_RPS": str(args.max_rps)}
            sample = ("reconcile", "--sample", str(args.sample), "--seed", "1", "--json")
            limited = await asyncio.to_thread(command, limited_env, *sample)
            limited_rate = await reads_per_s(url)
    for run in (every, limited):
        if run.report["ecarts"] != 0 or run.report["echecs"]:
            raise RuntimeError(f"a run found drift or failed: {run.report}")
    return every, every_rate, limited, limited_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--max-rps", type=float, default=50)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(
        "| database | --all: dossiers read | reads/s | peak RSS | --sample at MAX_RPS | reads/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for backend in args.backend:
        every, every_rate, limited, limited_rate = asyncio.run(measure(backend, args))
        print(
            f"| {backend} | {every.report['lus']:,} | {every_rate:,.0f} "
            f"| {every.peak_rss_mb:,.0f} MB | {limited.report['lus']:,} at {args.max_rps:g} "
            f"| {limited_rate:,.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
