"""The backfill benchmark of `operations.md`: `agora-bridge backfill` on a generated file.

    .venv/bin/python -m bench.backfill [--dossiers 1000000] [--backend sqlite postgresql]
                                       [--lot-size 5000] [--profile DIR]

The file is the realistic synthetic mix (`agora_bridge/synthetic/`). `agora-bridge validate`
runs on it first (the reference time), then, for each database (a SQLite file, a throwaway
PostgreSQL database), `agora-bridge backfill FILE --json` in its own process against the
AGORA mock in another (lot delay 0.2 s, no faults): its wall time from start to exit, its
peak RSS (wait4), its CPU, and the ratio to `validate`'s time. `--profile DIR` runs the
backfill under cProfile and writes `DIR/backfill-<backend>.prof`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.crypto import DEMO_NIR_INDEX_KEY, DEMO_NIR_KEYS
from agora_bridge.storage.models import Reprise
from agora_bridge.synthetic import write_file
from bench.api_keys import throwaway_database
from bench.floor import PostgresCpu, cpu_seconds, mock_process
from bench.sync import tree_cpu_seconds
from bench.validate_memory import measure_validate
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


@dataclass(frozen=True, slots=True)
class Run:
    backend: str
    seconds: float
    peak_rss_mib: float
    cpu_s: float
    report: dict[str, Any]
    reading_s: float  # from the reprise's creation to the end of reading (its own record)
    lots_s: float  # from there to the last lot's outcome
    lots_cpu_s: float  # the backfill's CPU (with its workers') in the lot phase
    mock_cpu_s: float  # the mock's CPU over the run (its lots' lines, its polls)
    database_cpu_s: float  # PostgreSQL's server processes over the run (0 on SQLite)


async def phases(url: str) -> tuple[float, float, float]:
    """The reading and lot phases' durations, from the reprise's own timestamps, and the
    instant reading ended (epoch seconds)."""
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            reprise = (await session.scalars(select(Reprise))).one()
    finally:
        await engine.dispose()
    assert reprise.lecture_finie_at is not None
    assert reprise.termine_at is not None
    reading = (reprise.lecture_finie_at - reprise.created_at).total_seconds()
    lots = (reprise.termine_at - reprise.lecture_finie_at).total_seconds()
    return reading, lots, reprise.lecture_finie_at.timestamp()


class CpuSamples:
    """The CPU of a process and its children every 50 ms (epoch seconds, CPU seconds): the
    CPU of the lot phase is the total less the CPU at the end of reading."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, float]] = []
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.samples.append((time.time(), tree_cpu_seconds(self._pid)))
            except (FileNotFoundError, ProcessLookupError):
                return  # the process is gone (or a child ended between two reads)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, instant: float) -> float:
        before = [cpu for when, cpu in self.samples if when <= instant]
        return before[-1] if before else 0.0


def environment(database_url: str, mock_url: str, lot_size: int) -> dict[str, str]:
    return {
        **os.environ,
        "AGORA_BRIDGE_MODE": "test",
        "AGORA_BRIDGE_DATABASE_URL": database_url,
        "AGORA_BRIDGE_NIR_KEYS": DEMO_NIR_KEYS,
        "AGORA_BRIDGE_NIR_INDEX_KEY": DEMO_NIR_INDEX_KEY,
        "AGORA_BRIDGE_AGORA__BASE_URL": f"{mock_url}/agora/v2",
        "AGORA_BRIDGE_AGORA__CLIENT_ID": DEMO_CLIENT_ID,
        "AGORA_BRIDGE_AGORA__CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "AGORA_BRIDGE_AGORA__TIMEOUT_S": "60",  # a 10,000-line compte-rendu is megabytes
        "AGORA_BRIDGE_BACKFILL__LOT_SIZE": str(lot_size),
        "AGORA_BRIDGE_BACKFILL__POLL_S": "0.2",
        "AGORA_BRIDGE_BACKFILL__POLL_MAX_S": "1",
        "AGORA_BRIDGE_LOG_LEVEL": "WARNING",
    }


def backfill(
    path: Path, env: dict[str, str], profile: Path | None, workers: int
) -> tuple[float, float, float, dict[str, Any], CpuSamples]:
    """Wall seconds, peak RSS MiB, CPU seconds, the JSON report and CPU samples of one run."""
    subprocess.run(
        [sys.executable, "-m", "agora_bridge", "db", "upgrade"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "agora_bridge", "backfill", str(path), "--json", "--workers", str(workers)]
    # WARNING and above go to a file: small, shown if the run fails.
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 (our own CLI)
            command, env=env, stdout=subprocess.PIPE, stderr=errors
        )
        assert child.stdout is not None
        samples = CpuSamples(child.pid)
        output = child.stdout.read()
        # wait4's usage counts the lot-line workers too (the backfill reaps them): CPU is
        # their sum, peak RSS the largest of the processes, not their total.
        samples.stop()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1) or not output.strip():  # 1: the file has invalid lines
            errors.seek(0)
            tail = errors.read()[-4000:].decode(errors="replace")
            raise RuntimeError(f"backfill failed with status {code}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, cpu, json.loads(output), samples


@asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    async with throwaway_database() as url:
        yield url


async def run(args: argparse.Namespace, path: Path, workdir: Path) -> list[Run]:
    runs = []
    for backend in args.backend:
        async with mock_process("--lot-delay-s", "0.2") as mock, database(backend, workdir) as url:
            env = environment(url, mock.url, args.lot_size)
            profile = args.profile / f"backfill-{backend}.prof" if args.profile else None
            # Not sampled on SQLite: a scan of /proc every 0.1 s (~3 ms of CPU) for nothing.
            server = PostgresCpu() if backend != "sqlite" else None
            mock_before = cpu_seconds(mock.pid)
            seconds, rss, cpu, report, samples = await asyncio.to_thread(
                backfill, path, env, profile, args.workers
            )
            mock_cpu = cpu_seconds(mock.pid) - mock_before
            database_cpu = server.stop() if server is not None else 0.0
            async with httpx.AsyncClient(base_url=mock.url) as http:
                stats = (await http.get("/__mock__/stats")).json()
            if stats["lignes_lot"]["ACCEPTE"] != report["acceptes"] or not report["termine"]:
                raise RuntimeError(f"incomplete backfill: {report} / {stats}")
            reading_s, lots_s, read_at = await phases(url)
            lots_cpu = cpu - samples.at(read_at)
            runs.append(
                Run(
                    backend,
                    seconds,
                    rss,
                    cpu,
                    report,
                    reading_s,
                    lots_s,
                    lots_cpu,
                    mock_cpu,
                    database_cpu,
                )
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--lot-size", type=int, default=5000)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--workers", type=int, default=0, help="the backfill's --workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as name:
        workdir = Path(name)
        path = workdir / "reprise.jsonl"
        write_file(path, args.dossiers, seed=1, today=paris_today())
        validate = measure_validate(path, args.dossiers)
        runs = asyncio.run(run(args, path, workdir))
    print(
        f"backfill of {args.dossiers:,} generated lines, lots of {args.lot_size:,}, "
        f"{args.workers} lot-line workers, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"validate: {validate.seconds:.1f} s ({args.dossiers / validate.seconds:,.0f} lines/s), "
        f"peak RSS {validate.peak_rss_mib:.0f} MiB"
    )
    print(
        f"{'backend':>10} {'seconds':>8} {'lines/s':>8} {'sent/s':>7} {'accepted':>9} "
        f"{'peak RSS MiB':>12} {'CPU s':>6} {'x validate':>10} {'reading s':>9} {'lots s':>7} "
        f"{'lots CPU µs/line':>16} {'mock µs/line':>12} {'PostgreSQL µs/line':>18}"
    )
    for r in runs:
        print(
            f"{r.backend:>10} {r.seconds:>8.1f} {args.dossiers / r.seconds:>8,.0f} "
            f"{r.report['envoyes'] / r.seconds:>7,.0f} {r.report['acceptes']:>9,} "
            f"{r.peak_rss_mib:>12.0f} {r.cpu_s:>6.0f} {r.seconds / validate.seconds:>10.2f} "
            f"{r.reading_s:>9.1f} {r.lots_s:>7.1f} "
            f"{r.lots_cpu_s * 1e6 / max(r.report['envoyes'], 1):>16.0f} "
            f"{r.mock_cpu_s * 1e6 / max(r.report['envoyes'], 1):>12.0f} "
            f"{r.database_cpu_s * 1e6 / max(r.report['envoyes'], 1):>18.0f}"
        )


if __name__ == "__main__":
    main()
