"""The orientation API under mixed reads and writes at a fixed rate (`operations.md`: p99 ≤ 50 ms
at 300 requests/s on one uvicorn worker, PostgreSQL).

`agora-bridge serve` runs in its own process (one worker, uvloop and httptools, logs at INFO
as in production, to /dev/null) on a throwaway PostgreSQL database; this process is the load
generator. Open loop: request n is sent at start + n / rate whatever the answers before it,
so a slow server cannot slow the offered load down (no coordinated omission); latency is from
the scheduled send to the whole answer read. The report's last row, "from the send", leaves
out how late each request left (a slot waited for, or the generator short of a core).

The mix, of which every request's expected status is checked: reads 70 % (one orientation 40 %,
a list page 20 %, the Région feed 10 %), writes 30 % (creation 10 %, a transition 20 %:
positionnement, decision or entry of an orientation known to be in the state before it).
The generator is aiohttp (about 0.45 ms of its CPU a request; httpx took 2 ms, a core's
third at 300/s on a machine the server shares). First, the floor: the same rate for
`--floor-seconds` of `GET /health/live` (no key, no database), which says what the machine
as loaded at that moment lets any route of this server do. Each run reports the server's CPU
a request and, from Linux's schedstat, the share of the time it was runnable but waiting for
a core (taken by the neighbours, the generator or PostgreSQL).

    .venv/bin/python -m bench.orientation [--rate 300] [--seconds 30] [--seed-orientations 500]
                                          [--floor-seconds 10]
    .venv/bin/python -m bench.orientation --cpu     # CPU a request of each kind, in process
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging
from agora_bridge.settings import Settings
from agora_bridge.storage import db
from agora_bridge.storage.callers import (
    NewOrganisation,
    Role,
    StructureType,
    add_organisation,
    create_key,
)
from bench.api_keys import throwaway_database
from bench.floor import cpu_seconds, free_port

SIRET = "73282932000074"
# Requests in flight at most (connections): at 300/s and a p99 of 50 ms, ~15 are enough.
CONNECTIONS = 32
BASE = "/ouiform/v1/orientations"
# kind: (share of requests, expected status)
MIX: dict[str, tuple[float, int]] = {
    "get": (0.40, 200),
    "list": (0.20, 200),
    "feed": (0.10, 200),
    "create": (0.10, 201),
    "transition": (0.20, 200),
}
# The floor, measured in the same run: the same generator and server, a route without a key
# or a database. What it cannot hold at the rate, on the machine as loaded, the mix cannot.
FLOOR: dict[str, tuple[float, int]] = {"live": (1.0, 200)}
# A transition from each state the generator keeps, and the state it leads to.
STEPS = {
    "PRESCRITE": ("positionnement", {"date_information_collective": "2026-11-20"}, "POSITIONNEE"),
    "POSITIONNEE": ("decision", {"resultat": "RETENUE"}, "RETENUE"),
    "RETENUE": ("entree", {"date_entree": "2026-11-23"}, "ENTREE"),
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the JSON read when the generator needs it (an id, a cursor), else None


class Client:
    """The generator's HTTP: aiohttp against `serve` (its C parser costs the generator about a
    quarter of what httpx does, `bench/floor.py`), httpx's ASGI transport in process (`--cpu`)."""

    def __init__(self, aio: aiohttp.ClientSession | None, asgi: httpx.AsyncClient | None) -> None:
        self.aio, self.asgi = aio, asgi

    async def call(
        self, method: str, url: str, *, headers: dict[str, str], read: bool = False, **options: Any
    ) -> Answer:
        if self.aio is not None:
            async with self.aio.request(method, url, headers=headers, **options) as response:
                body = await response.json() if read and response.status < 300 else None
                await response.read()
                return Answer(response.status, body)
        assert self.asgi is not None
        answer = await self.asgi.request(method, url, headers=headers, **options)
        return Answer(answer.status_code, answer.json() if read and answer.is_success else None)


@dataclass(frozen=True)
class Keys:
    organisme: dict[str, str]
    prescripteur: dict[str, str]
    region: dict[str, str]


@dataclass
class Run:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    unexpected: Counter[str] = field(default_factory=Counter)
    late_sends_ms: list[float] = field(default_factory=list)
    # From the send to the whole answer: the latency without the send's lateness (a slot
    # waited for, or the generator itself short of a core).
    from_send_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0

    def record(self, kind: str, latency_ms: float, status: int) -> None:
        self.latencies.setdefault(kind, []).append(latency_ms)
        if status != {**MIX, **FLOOR}[kind][1]:
            self.unexpected[f"{kind} {status}"] += 1


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:  # a kind drawn once in a short run
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def creation(number: int) -> dict[str, Any]:
    return {
        "candidat": {"nom": f"Martin{number}", "prenom": "Léa", "date_naissance": "2001-02-03"},
        "organisme": {"siret": SIRET},
        "session": {"action_numero": "A1", "session_numero": f"S{number % 20}"},
    }


class Load:
    """The open-loop generator and what it knows of the orientations' states."""

    def __init__(self, client: Client, keys: Keys, rng: random.Random) -> None:
        self.client, self.keys, self.rng = client, keys, rng
        self.by_state: dict[str, list[str]] = {state: [] for state in (*STEPS, "ENTREE")}
        self.run = Run()
        self.feed_cursor: str | None = None

    async def create(self) -> Answer:
        headers = {**self.keys.prescripteur, "Idempotency-Key": str(uuid.uuid4())}
        body = creation(self.rng.randrange(10**6))
        answer = await self.client.call("POST", BASE, json=body, headers=headers, read=True)
        if answer.status == 201:
            self.by_state["PRESCRITE"].append(answer.body["id"])
        return answer

    async def transition(self) -> Answer:
        state = self.rng.choice([s for s in STEPS if self.by_state[s]])
        orientation_id = self.by_state[state].pop(self.rng.randrange(len(self.by_state[state])))
        step, body, reached = STEPS[state]
        url = f"{BASE}/{orientation_id}/{step}"
        answer = await self.client.call("POST", url, json=body, headers=self.keys.organisme)
        self.by_state[reached if answer.status == 200 else state].append(orientation_id)
        return answer

    async def get(self) -> Answer:
        known = [oid for ids in self.by_state.values() for oid in ids[-50:]]
        url = f"{BASE}/{self.rng.choice(known)}"
        return await self.client.call("GET", url, headers=self.keys.organisme)

    async def list(self) -> Answer:
        params: dict[str, str | int] = {"limit": 20, "session_numero": f"S{self.rng.randrange(20)}"}
        return await self.client.call("GET", BASE, params=params, headers=self.keys.organisme)

    async def feed(self) -> Answer:
        params: dict[str, str | int] = {"limit": 50}
        if self.feed_cursor:
            params["cursor"] = self.feed_cursor
        url = "/region/v1/orientations"
        answer = await self.client.call(
            "GET", url, params=params, headers=self.keys.region, read=True
        )
        if answer.status == 200:
            self.feed_cursor = answer.body["next_cursor"]
        return answer

    async def one(self, kind: str, scheduled: float, slots: asyncio.Semaphore) -> None:
        # Waiting for a slot here rather than in the client's pool: a backlog must not make
        # the generator the bottleneck.
        async with slots:
            sent = time.perf_counter()
            self.run.late_sends_ms.append((sent - scheduled) * 1000)
            try:
                status = (await getattr(self, kind)()).status
            except (aiohttp.ClientError, TimeoutError):  # a connection lost: counted, status 0
                status = 0
        answered = time.perf_counter()
        self.run.from_send_ms.append((answered - sent) * 1000)
        self.run.record(kind, (answered - scheduled) * 1000, status)

    async def live(self) -> Answer:
        return await self.client.call("GET", "/health/live", headers={})

    async def offer(
        self, rate: float, seconds: float, mix: dict[str, tuple[float, int]] = MIX
    ) -> float:
        kinds, weights = list(mix), [share for share, _ in mix.values()]
        slots = asyncio.Semaphore(CONNECTIONS)
        tasks = []
        started = time.perf_counter()
        for n in range(int(rate * seconds)):
            scheduled = started + n / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            kind = self.rng.choices(kinds, weights)[0]
            tasks.append(asyncio.create_task(self.one(kind, scheduled, slots)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - started


async def make_keys(url: str) -> Keys:
    engine = db.make_engine(url)
    await db.upgrade(engine)
    now = datetime.now(UTC)
    organisations = [
        NewOrganisation("OF", Role.ORGANISME, siret=SIRET),
        NewOrganisation(
            "ML", Role.PRESCRIPTEUR, structure_code="ML", structure_type=StructureType.AUTRE
        ),
        NewOrganisation("SI", Role.REGION_SI),
    ]
    keys = []
    async with db.make_sessionmaker(engine)() as session, session.begin():
        for organisation in organisations:
            organisation_id = await add_organisation(session, organisation, now=now)
            keys.append(
                {"Authorization": f"Bearer {await create_key(session, organisation_id, now=now)}"}
            )
    await engine.dispose()
    return Keys(*keys)


@asynccontextmanager
async def server(url: str) -> AsyncIterator[tuple[str, int]]:
    """`agora-bridge serve` on a free port, in its own process: (its URL, its pid)."""
    port = free_port()
    environment = {
        **os.environ,
        "AGORA_BRIDGE_MODE": "test",
        "AGORA_BRIDGE_DATABASE_URL": url,
        "AGORA_BRIDGE_AGORA__BASE_URL": "http://127.0.0.1:9/agora/v2",
    }
    command = [sys.executable, "-m", "agora_bridge", "serve", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_live(base, process)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


async def _wait_until_live(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with status {process.returncode}")
            try:
                if (await client.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("serve did not start within 30 s")


async def seed(load: Load, orientations: int) -> None:
    for _ in range(0, orientations, 10):
        await asyncio.gather(*(load.create() for _ in range(10)))
    for state in ("PRESCRITE", "POSITIONNEE"):  # a third left in each of the first states
        for _ in range(orientations // 3):
            await _step(load, state)


async def _step(load: Load, state: str) -> None:
    orientation_id = load.by_state[state].pop()
    step, body, reached = STEPS[state]
    url = f"{BASE}/{orientation_id}/{step}"
    answer = await load.client.call("POST", url, json=body, headers=load.keys.organisme)
    if answer.status != 200:
        raise RuntimeError(f"seeding: {step} answered {answer.status}")
    load.by_state[reached].append(orientation_id)


async def measure(
    url: str, *, rate: float, seconds: float, orientations: int, floor_seconds: float = 0
) -> str:
    keys = await make_keys(url)
    async with server(url) as (base, pid):
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as aio:
            load = Load(Client(aio, None), keys, random.Random(20261127))  # noqa: S311
            await seed(load, orientations)
            texts = ["the floor, GET /health/live:"] if floor_seconds else []
            if floor_seconds:
                texts.append(await _timed(load, pid, rate, floor_seconds, FLOOR))
            texts.append(await _timed(load, pid, rate, seconds, MIX))
    return "\n".join(texts)


async def _timed(
    load: Load, pid: int, rate: float, seconds: float, mix: dict[str, tuple[float, int]]
) -> str:
    load.run = Run()
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    waited_before = waited_seconds(pid)
    elapsed = await load.offer(rate, seconds, mix)
    server_cpu = cpu_seconds(pid) - cpu_before
    load.run.client_cpu_s = time.process_time() - client_before
    waited = waited_seconds(pid) - waited_before
    return report(load.run, rate, elapsed, server_cpu, waited) + f"\nload average {load_average()}"


def waited_seconds(pid: int) -> float:
    """Time the process's threads were runnable but waiting for a core (Linux schedstat): on
    a shared machine, what the neighbours took from the server."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return sum(int((task / "schedstat").read_text().split()[1]) for task in tasks) / 1e9


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def report(run: Run, rate: float, elapsed: float, server_cpu: float, waited_s: float = 0.0) -> str:
    every = [value for values in run.latencies.values() for value in values]
    lines = [
        f"offered {rate:g}/s for {elapsed:.1f} s: {len(every)} requests "
        f"({len(every) / elapsed:.0f}/s); server CPU {server_cpu / len(every) * 1000:.2f} ms a "
        f"request ({server_cpu / elapsed:.0%} of a core; runnable but waiting for one "
        f"{waited_s / elapsed:.0%} of the time), the generator's "
        f"{run.client_cpu_s / len(every) * 1000:.2f} ms; sends late by p99 "
        f"{percentiles(run.late_sends_ms)[2]:.1f} ms; unexpected statuses: "
        f"{dict(run.unexpected) or 'none'}",
        "| requests | count | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for kind, values in [("all", every), *sorted(run.latencies.items())]:
        p50, p95, p99 = percentiles(values)
        lines.append(f"| {kind} | {len(values)} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    if run.from_send_ms:
        p50, p95, p99 = percentiles(run.from_send_ms)
        lines.append(
            f"| all, from the send | {len(run.from_send_ms)} | {p50:.1f} | {p95:.1f} | {p99:.1f} |"
        )
    return "\n".join(lines)


async def cpu_by_kind(url: str, *, requests: int = 150) -> str:
    """CPU (app and client together, in this process) and wall time a request of each kind,
    sequential: what a request costs, apart from any queue."""
    keys = await make_keys(url)
    configure_logging(level="INFO", fmt="json", stream=io.StringIO())  # as serve logs
    app = create_app(Settings(mode="test", database_url=url))
    transport = httpx.ASGITransport(app=app)
    lines = ["| requests | CPU ms | wall ms |", "|---|---|---|"]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as asgi,
    ):
        load = Load(Client(None, asgi), keys, random.Random(1))  # noqa: S311 - a reproducible mix
        await seed(load, requests)
        for kind in MIX:
            cpu, started = time.process_time(), time.perf_counter()
            for _ in range(requests // 3):
                await getattr(load, kind)()
            count = requests // 3
            cpu_ms = (time.process_time() - cpu) * 1000 / count
            wall_ms = (time.perf_counter() - started) * 1000 / count
            lines.append(f"| {kind} | {cpu_ms:.2f} | {wall_ms:.2f} |")
    return "\n".join(lines)


async def main(arguments: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    async with throwaway_database() as url:
        if arguments.cpu:
            print(await cpu_by_kind(url), flush=True)
            return
        print(
            await measure(
                url,
                rate=arguments.rate,
                seconds=arguments.seconds,
                orientations=arguments.seed_orientations,
                floor_seconds=arguments.floor_seconds,
            ),
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed-orientations", type=int, default=500)
    parser.add_argument(
        "--floor-seconds", type=float, default=10.0, help="the floor's run first (0: none)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="CPU a request of each kind, in process, instead"
    )
    asyncio.run(main(parser.parse_args()))
