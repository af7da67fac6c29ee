"""The delta-sync benchmark of `operations.md`, beside the floor measured in the same run.

    .venv/bin/python -m bench.sync [--dossiers 5000] [--rate 200] [--seconds 30]
                                   [--floor-seconds 10] [--backend sqlite postgresql]
                                   [--workers 2]

The AGORA mock runs in its own process, no faults. First the floor (`bench/floor.py`: a bare
httpx client, concurrency 4), and the same walk with aiohttp, the transport the bridge's client
uses since (`agora/transport.py`): the table gives the ratio to each. Then, for each database
(a SQLite file, a throwaway PostgreSQL database):

1. throughput: `--dossiers` synthetic dossiers with their four versions each (VALIDE, ENTRE,
   SORTI, SOLDE: 20,000 snapshots by default) go through `POST /region/v1/dossiers`, the app
   in this process, 1,000 a request, every first version, then every second...; then
   `agora-bridge sync` starts in its own process and runs flat out until nothing is pending
   (on PostgreSQL `sync --workers N`: N engines in as many processes, `--workers`, 2 by
   default; SQLite's single writer keeps one). AGORA calls are counted by the mock
   (`/__mock__/stats`, every `/agora/v2` call but the token), from the first call seen to the
   last item closed; CPU of each process from /proc (`sync`'s: all its processes; PostgreSQL's:
   every server process on the machine).
2. latency: while that `sync` keeps running, new dossiers' versions are fed at `--rate`
   snapshots/s (a request every 0.1 s) for `--seconds`; a snapshot is acknowledged when its
   work item (`livraison`) is closed (`A_JOUR`, or parked or held) at its generation or a
   later one, seen by polling every 20 ms; the latency is from the ingest's 202 to that.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.api.region import INGEST_PATH
from agora_bridge.logs import configure_logging
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.livraisons import A_FAIRE
from agora_bridge.storage.models import Livraison
from agora_bridge.synthetic.histories import histories
from bench.api_keys import throwaway_database
from bench.floor import Floor, MockProcess, PostgresCpu, cpu_seconds, measure, mock_process
from bench.ingest_api import ingest_client
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

# `sync` as a Région would run it, but for two settings: no request-rate ceiling (flat out is
# the point; in production AGORA__MAX_RPS is the rate agreed with the CDC), and a tick of
# 0.5 s, kept so that figures compare with earlier ones: on PostgreSQL the ingest's NOTIFY
# wakes `sync` (`delivery/wakeup.py`); on SQLite it polls at its tick, 5 s by default.
SYNC_SETTINGS = {"AGORA__MAX_RPS": "0", "SYNC__INTERVAL_S": "0.5", "LOG_LEVEL": "WARNING"}
LATENCY_FIRST_INDEX = 5_000_000  # the latency run's dossiers after the throughput run's
POLL_S = 0.02
Ingest = tuple[httpx.AsyncClient, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Throughput:
    snapshots: int
    ingest_s: float
    calls: int
    seconds: float
    sync_cpu_s: float
    mock_cpu_s: float
    database_cpu_s: float  # PostgreSQL's server processes (0 on SQLite: it runs inside `sync`)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


@dataclass(frozen=True, slots=True)
class Latency:
    fed: int  # snapshots that got a work item
    seconds: list[float]  # one per acknowledged snapshot
    late: int  # not acknowledged within the wait after the feed
    feed_s: float = 0.0  # how long the feed took: longer than `--seconds` when this process lagged

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[p - 1]


def sync_environment(url: str, mock_url: str) -> dict[str, str]:
    settings = {
        "MODE": "test",
        "DATABASE_URL": url,
        "AGORA__BASE_URL": f"{mock_url}/agora/v2",
        "AGORA__CLIENT_ID": DEMO_CLIENT_ID,
        "AGORA__CLIENT_SECRET": DEMO_CLIENT_SECRET,
        **SYNC_SETTINGS,
    }
    return os.environ | {f"AGORA_BRIDGE_{name}": value for name, value in settings.items()}


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and of its living children (`sync --workers` runs one engine in each)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


@contextmanager
def sync_process(
    url: str, mock_url: str, log: Path, profile: Path | None = None, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """`agora-bridge sync [--workers N]` in its own process, stopped by SIGTERM (it finishes
    its passes); under cProfile when `profile` names the file for its statistics (with one
    worker: the engines of several run in child processes)."""
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *profiler, "-m", "agora_bridge", "sync", "--workers", str(workers)]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command, env=sync_environment(url, mock_url), stdout=output, stderr=output
        )
    try:
        yield process
    finally:
        process.terminate()
        if process.wait(timeout=60) != 0:
            raise RuntimeError(f"sync exited with status {process.returncode}: see {log}")


async def agora_calls(mock: httpx.AsyncClient) -> int:
    """Every call to AGORA's API the mock served, but the token's."""
    counts: dict[str, int] = (await mock.get("/__mock__/stats")).json()["requetes"]
    return sum(n for key, n in counts.items() if "/agora/v2/" in key and "oauth" not in key)


async def pending(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        query = select(func.count()).where(Livraison.etat == A_FAIRE)
        return int(await session.scalar(query) or 0)


def by_version(dossiers: list[list[str]]) -> list[str]:
    """Every first version, then every second...: one request never holds two of a dossier."""
    columns = itertools.zip_longest(*dossiers)
    return [line for column in columns for line in column if line is not None]


async def post(ingest: Ingest, lines: list[str]) -> list[dict[str, str]]:
    client, headers = ingest
    body = ("\n".join(lines) + "\n").encode()
    response = await client.post(INGEST_PATH, content=body, headers=headers)
    if response.status_code != 202:
        raise RuntimeError(f"ingest answered {response.status_code}")
    results: list[dict[str, str]] = response.json()["resultats"]
    return results


async def ingest_all(ingest: Ingest, lines: list[str], size: int) -> float:
    """`lines` in requests of `size` (at most 1,000: the route's cap)."""
    started = time.perf_counter()
    for start in range(0, len(lines), size):
        results = await post(ingest, lines[start : start + size])
        refused = [r for r in results if r["resultat"] != "ACCEPTE"]
        if refused:
            raise RuntimeError(f"{len(refused)} synthetic snapshots not accepted")
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Run:
    """The processes of one benchmark run, and what it reads."""

    mock: MockProcess
    control: httpx.AsyncClient  # the mock's /__mock__ routes
    sessions: async_sessionmaker[AsyncSession]
    sync_pid: int


async def until_delivered(run: Run, snapshots: int, ingest_s: float) -> Throughput:
    """Waits for the first AGORA call, then until nothing is pending: the calls, and the CPU
    of `sync`, the mock and PostgreSQL over that window."""
    while (first := await agora_calls(run.control)) == 0:
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    # SQLite runs inside `sync`: the machine's PostgreSQL works for others meanwhile. Sampled
    # through the window: a backend that ends in it (a pool's overflow) keeps its CPU.
    server = PostgresCpu() if run.sessions.kw["bind"].dialect.name == "postgresql" else None
    cpu = tree_cpu_seconds(run.sync_pid), cpu_seconds(run.mock.pid)
    while await pending(run.sessions):
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    calls = await agora_calls(run.control) - first
    return Throughput(
        snapshots,
        ingest_s,
        calls,
        seconds,
        tree_cpu_seconds(run.sync_pid) - cpu[0],
        cpu_seconds(run.mock.pid) - cpu[1],
        server.stop() if server is not None else 0.0,
    )


def staggered(dossiers: list[list[str]], spacing: int = 100) -> list[str]:
    """Versions interleaved across dossiers: a dossier's next version comes `spacing` dossiers
    later (about 2 s at 200 snapshots/s), so versions of one dossier meet in flight."""
    keyed = [
        (order + spacing * version, order, line)
        for order, versions in enumerate(dossiers)
        for version, line in enumerate(versions)
    ]
    return [line for _, _, line in sorted(keyed)]


async def states(
    sessions: async_sessionmaker[AsyncSession], keys: list[str]
) -> dict[str, tuple[int, str]]:
    """Each dossier's work item: (generation, etat)."""
    rows: dict[str, tuple[int, str]] = {}
    async with sessions() as session:
        for start in range(0, len(keys), 500):
            query = select(Livraison.id_dossier, Livraison.generation, Livraison.etat).where(
                Livraison.id_dossier.in_(keys[start : start + 500])
            )
            rows |= {
                key: (generation, etat) for key, generation, etat in await session.execute(query)
            }
    return rows


class Acknowledgements:
    """Snapshots waiting for their acknowledgement, by (dossier, generation): when their 202
    came; the latencies of those acknowledged."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.waiting: dict[tuple[str, int], float] = {}
        self.seconds: list[float] = []
        # (answered at, latency, dossier, generation) of each, for `--trace`
        self.trace: list[tuple[float, float, str, int]] = []
        self.fed = 0

    async def stored(self, keys: list[str], answered_at: float) -> None:
        for key, (generation, _) in (await states(self.sessions, keys)).items():
            self.waiting[(key, generation)] = answered_at
            self.fed += 1

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            rows = await states(self.sessions, sorted({key for key, _ in self.waiting}))
            seen = time.perf_counter()
            for key, generation in list(self.waiting):
                # A snapshot stored while this poll ran waits for the next one.
                current, etat = rows.get(key, (0, A_FAIRE))
                if etat != A_FAIRE and current >= generation:
                    answered_at = self.waiting.pop((key, generation))
                    self.seconds.append(seen - answered_at)
                    self.trace.append((answered_at, seen - answered_at, key, generation))


async def backlog(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    """Pending work items: (claimed, due now and unclaimed, due later)."""
    now = datetime.now(UTC)
    leased = Livraison.lease_until > now
    due = and_(Livraison.due_at <= now, or_(Livraison.lease_until.is_(None), ~leased))
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    func.count().filter(leased),
                    func.count().filter(due),
                    func.count().filter(Livraison.due_at > now),
                ).where(Livraison.etat == A_FAIRE)
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def sample_backlog(
    sessions: async_sessionmaker[AsyncSession], samples: list[tuple[float, int, int, int]]
) -> None:
    while True:
        samples.append((time.perf_counter(), *await backlog(sessions)))
        await asyncio.sleep(0.25)


def write_trace(
    path: Path, started: float, acks: Acknowledgements, samples: list[tuple[float, int, int, int]]
) -> None:
    """`--trace`: each snapshot's (fed at, latency) and the backlog's samples, seconds from the
    feed's start, for finding where a slow snapshot waited."""
    with path.open("w") as out:
        out.write("kind,t,latency_or_claimed,dossier_or_due,generation_or_later\n")
        for answered_at, latency, key, generation in sorted(acks.trace):
            out.write(f"ack,{answered_at - started:.3f},{latency:.3f},{key},{generation}\n")
        for key, generation in acks.waiting:
            out.write(f"late,{acks.waiting[(key, generation)] - started:.3f},,{key},{generation}\n")
        for at, claimed, due, later in samples:
            out.write(f"backlog,{at - started:.3f},{claimed},{due},{later}\n")


async def feed(
    run: Run, ingest: Ingest, rate: float, seconds: float, trace: Path | None = None
) -> Latency:
    """`rate` snapshots/s for `seconds`, a request every 0.1 s; then waits (at most 60 s) for
    the acknowledgements."""
    per_request, count = max(1, round(rate / 10)), int(rate * seconds)
    dossiers = histories(
        count // 4 + 1, seed=2, today=paris_today(), first_index=LATENCY_FIRST_INDEX
    )
    lines = staggered(list(dossiers))[:count]
    acks = Acknowledgements(run.sessions)
    watcher = asyncio.create_task(acks.watch())
    samples: list[tuple[float, int, int, int]] = []
    sampler = asyncio.create_task(sample_backlog(run.sessions, samples)) if trace else None
    started = time.perf_counter()
    for tick, offset in enumerate(range(0, len(lines), per_request)):
        await asyncio.sleep(max(0.0, started + tick / 10 - time.perf_counter()))
        results = await post(ingest, lines[offset : offset + per_request])
        answered_at = time.perf_counter()
        await acks.stored(
            [r["id_dossier"] for r in results if r["resultat"] == "ACCEPTE"], answered_at
        )
    feed_s = time.perf_counter() - started
    deadline = time.perf_counter() + 60
    while acks.waiting and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    watcher.cancel()
    if sampler is not None and trace is not None:
        sampler.cancel()
        write_trace(trace, started, acks, samples)
    return Latency(acks.fed, acks.seconds, len(acks.waiting), feed_s)


async def bench_database(
    url: str, mock: MockProcess, arguments: argparse.Namespace, log: Path
) -> tuple[Throughput, Latency]:
    dossiers = histories(arguments.dossiers, seed=1, today=paris_today())
    lines = by_version(list(dossiers))
    database = db.make_engine(url)
    async with ingest_client(url) as ingest, httpx.AsyncClient(base_url=mock.url) as control:
        (await control.post("/__mock__/reset")).raise_for_status()
        ingest_s = await ingest_all(ingest, lines, min(1000, arguments.dossiers))
        workers = arguments.workers if url.startswith("postgresql") else 1
        try:
            with sync_process(url, mock.url, log, arguments.profile, workers) as process:
                run = Run(mock, control, db.make_sessionmaker(database), process.pid)
                throughput = await until_delivered(run, len(lines), ingest_s)
                trace = arguments.trace / f"{log.stem}.csv" if arguments.trace else None
                latency = await feed(run, ingest, arguments.rate, arguments.seconds, trace)
        finally:
            await database.dispose()
    return throughput, latency


HEADER = (
    "| database | snapshots | ingest s | AGORA calls | s | calls/s | floor calls/s | of the floor "
    "| aiohttp floor | of it | sync CPU ms/call | mock CPU ms/call | PostgreSQL CPU ms/call "
    "| latency p50 / p95 / p99 s "
    "| acknowledged |"
)


def row(
    database: str, floors: tuple[Floor, Floor], throughput: Throughput, latency: Latency
) -> str:
    t, per_call = throughput, 1000 / throughput.calls
    p50, p95, p99 = (latency.percentile(p) for p in (50, 95, 99))
    floor, aiohttp_floor = floors
    return (
        f"| {database} | {t.snapshots:,} | {t.ingest_s:.1f} | {t.calls:,} | {t.seconds:.1f} "
        f"| {t.calls_per_s:,.0f} | {floor.calls_per_s:,.0f} "
        f"| {t.calls_per_s / floor.calls_per_s:.0%} | {aiohttp_floor.calls_per_s:,.0f} "
        f"| {t.calls_per_s / aiohttp_floor.calls_per_s:.0%} | {t.sync_cpu_s * per_call:.2f} "
        f"| {t.mock_cpu_s * per_call:.2f} | {t.database_cpu_s * per_call:.2f} "
        f"| {p50:.2f} / {p95:.2f} / {p99:.2f} "
        f"| {len(latency.seconds):,} of {latency.fed:,} |"
    )


@asynccontextmanager
async def database_url(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "postgresql":
        async with throwaway_database() as url:
            yield url
    else:
        yield f"sqlite:///{directory / 'sync.db'}"


async def main(arguments: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}, Python {sys.version.split()[0]}")
    async with mock_process() as mock:
        floors = (
            await measure(mock.url, arguments.floor_seconds, 4, mock_pid=mock.pid),
            await measure(
                mock.url, arguments.floor_seconds, 4, mock_pid=mock.pid, client="aiohttp"
            ),
        )
        for floor in floors:
            print(floor.describe(), flush=True)
        print(HEADER)
        print("|" + "---|" * (HEADER.count("|") - 1))
        with tempfile.TemporaryDirectory() as directory:
            for backend in arguments.backend:
                async with database_url(backend, Path(directory)) as url:
                    log = Path(directory) / f"sync-{backend}.log"
                    throughput, latency = await bench_database(url, mock, arguments, log)
                processes = arguments.workers if backend == "postgresql" else 1
                label = f"{backend}, {processes} sync process{'es' if processes > 1 else ''}"
                print(row(label, floors, throughput, latency), flush=True)
                fed = f"{latency.fed:,} snapshots fed in {latency.feed_s:.1f} s"
                print(f"({label}: {fed}, {latency.fed / latency.feed_s:.0f}/s)", flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=5000, help="four snapshots each")
    parser.add_argument("--rate", type=float, default=200.0, help="snapshots/s, latency run")
    parser.add_argument("--seconds", type=float, default=30.0, help="latency run")
    parser.add_argument("--floor-seconds", type=float, default=10.0)
    parser.add_argument(
        "--trace", type=Path, help="directory: each snapshot's latency and the backlog, as CSV"
    )
    parser.add_argument("--profile", type=Path, help="run sync under cProfile, stats to this file")
    parser.add_argument(
        "--workers", type=int, default=2, help="sync processes on PostgreSQL (SQLite: one)"
    )
    parser.add_argument(
        "--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    return parser.parse_args()


if __name__ == "__main__":
    configure_logging(level="WARNING")
    asyncio.run(main(parse_arguments()))
