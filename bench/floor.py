"""The floor: calls/s a bare httpx client gets from the AGORA mock in its own process.

    .venv/bin/python -m bench.floor [--seconds 10] [--concurrency 4] [--repeat 3]
                                    [--clients httpx httpcore aiohttp]

No database, no planning: `--concurrency` workers share one `httpx.AsyncClient` and each
walks dossiers through the calls the sync engine makes (search, creation, entry, exit,
settlement, GET), for `--seconds`. It prints the calls/s and the mock process's CPU seconds a
call (from /proc), i.e. how many calls/s one core of the mock could serve, and the client's.

The same walk with another client stack, for comparison only (the bridge's client is httpx):
`httpcore` (httpx's own transport, without httpx's request and response models) and `aiohttp`
(its C HTTP parser); same bodies, same headers, same pool size.

The client, not the mock, sets the floor, and httpx's pool costs more CPU a call the more
connections it holds (httpcore checks every idle connection for each request): on 2 cores a
bare client gets about twice as many calls/s at concurrency 4 as at 16. Hence 4 by default:
the floor is the best a bare client does, not a figure that flatters the engine.

The sync benchmark compares its AGORA operations/s with this figure (operations.md: at least
60 %), measured against the same mock in the same run:

    async with mock_process() as mock:
        floor = await measure(mock.url, seconds=10, concurrency=4, mock_pid=mock.pid)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpcore
import httpx

from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.mocks.builders import STEP_BODIES, creation

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": DEMO_CLIENT_ID,
    "client_secret": DEMO_CLIENT_SECRET,
}
# The spec's example bodies, as the mock's own tests use them: always accepted.
STEPS = ("entree", "sortie", "solde")
CALLS_PER_DOSSIER = 3 + len(STEPS)  # search, creation, the steps, GET
# The floor's dossiers stay in the mock: under their own financeur code, a benchmark that
# measures the floor first never takes them for the Région's (REG52).
CODE_FINANCEUR = "FLOOR"


@dataclass(frozen=True, slots=True)
class MockProcess:
    url: str  # e.g. http://127.0.0.1:41234
    pid: int


@dataclass(frozen=True, slots=True)
class Floor:
    calls: int
    seconds: float
    concurrency: int
    mock_cpu_s: float | None  # the mock process's user + system CPU over the run
    client_cpu_s: float  # this process's: which side is the bottleneck
    client: str = "httpx"

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def mock_cpu_ms_per_call(self) -> float | None:
        return None if self.mock_cpu_s is None else self.mock_cpu_s / self.calls * 1000

    def describe(self) -> str:
        text = (
            f"bare {self.client} client, concurrency {self.concurrency}: "
            f"{self.calls_per_s:,.0f} calls/s "
            f"({self.calls} calls in {self.seconds:.1f} s)"
        )
        cpu_ms = self.mock_cpu_ms_per_call
        if cpu_ms is not None:
            text += (
                f"; the mock's CPU: {cpu_ms:.3f} ms a call (~{1000 / cpu_ms:,.0f} calls/s a core)"
            )
        client_ms = self.client_cpu_s / self.calls * 1000
        return text + f"; the client's: {client_ms:.3f} ms a call"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to tell the mock's cost from the client's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process on this machine, by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                found[int(entry.name)] = cpu_seconds(int(entry.name))
        except OSError:  # ended while listed
            continue
    return found


class PostgresCpu:
    """PostgreSQL's CPU over a window in which backends start and end (a command's own
    connections close when it exits): each process sampled every 0.1 s, counted from its
    CPU at the start (0 for a later one) to its last sample. A lower bound, by at most
    0.1 s of each backend that ended."""

    def __init__(self) -> None:
        self._first = postgres_cpu()
        self._last = dict(self._first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._last |= postgres_cpu()

    def stop(self) -> float:
        """The CPU seconds spent since the start."""
        self._stop.set()
        self._thread.join()
        self._last |= postgres_cpu()
        return sum(cpu - self._first.get(pid, 0.0) for pid, cpu in self._last.items())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the mock exited with status {process.returncode}")
            try:
                (await client.post("/__mock__/reset")).raise_for_status()
                return
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the mock did not start within 15 s")


@asynccontextmanager
async def mock_process(*options: str) -> AsyncIterator[MockProcess]:
    """`agora-bridge mock-agora` in its own process, so that the client does not share its core.

    `options` are the command's (`--lot-delay-s 0` by default).
    """
    port = free_port()
    command = [sys.executable, "-m", "agora_bridge", "mock-agora", "--port", str(port)]
    command += options or ("--lot-delay-s", "0")
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_until_up(url, process)
        yield MockProcess(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


# One HTTP exchange: (method, path, headers, body) -> (status, body).
Send = Callable[[str, str, dict[str, str], bytes | None], Awaitable[tuple[int, bytes]]]


async def token_headers(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/agora/v2/oauth/token", data=TOKEN_FORM)
    _expect("/agora/v2/oauth/token", (response.status_code, response.content), 200)
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _token_via(send: Send) -> dict[str, str]:
    path = "/agora/v2/oauth/token"
    form = "&".join(f"{key}={value}" for key, value in TOKEN_FORM.items()).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    body = _expect(path, await send("POST", path, headers, form), 200)
    return {"Authorization": f"Bearer {json.loads(body)['access_token']}"}


def _expect(path: str, answer: tuple[int, bytes], status: int) -> bytes:
    # Never count an error as a call served: a floor made of 4xx would flatter the mock.
    if answer[0] != status:
        raise RuntimeError(f"{path}: {answer[0]}")
    return answer[1]


class _Dossiers:
    """Walks dossiers through the engine's calls until the deadline; counts the calls served."""

    def __init__(self, send: Send, auth: dict[str, str], deadline: float) -> None:
        self.send, self.auth, self.deadline = send, auth, deadline
        self.calls = 0
        self._references = (f"FLOOR-{uuid.uuid4().hex[:8]}-{n}" for n in itertools.count())

    async def worker(self) -> None:
        while time.perf_counter() < self.deadline:
            await self._one(next(self._references))

    async def _call(
        self, method: str, path: str, status: int, body: object = None, **extra: str
    ) -> bytes:
        headers = {**self.auth, "X-Request-Id": str(uuid.uuid4()), **extra}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = await self.send(method, path, headers, content)
        self.calls += 1
        return _expect(path, answer, status)

    async def _one(self, reference: str) -> None:
        await self._call("POST", "/agora/v2/dossiers/recherche", 200, _search(reference))
        created = await self._call(
            "POST",
            "/agora/v2/dossiers",
            201,
            creation(reference, code_financeur=CODE_FINANCEUR),
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
        path = f"/agora/v2/dossiers/{json.loads(created)['id_agora']}"
        for step in STEPS:
            await self._call("POST", f"{path}/{step}", 200, STEP_BODIES[step])
        await self._call("GET", path, 200)


def _search(reference: str) -> dict[str, str]:
    return {"reference_financeur": reference}


CLIENTS = ("httpx", "httpcore", "aiohttp")


async def measure(
    url: str,
    seconds: float,
    concurrency: int,
    *,
    mock_pid: int | None = None,
    client: str = "httpx",
) -> Floor:
    """The floor against the mock at `url`; its CPU a call too when `mock_pid` is given.

    The mock must have no faults on: any answer but the expected one raises. Its dossiers
    (financeur `FLOOR`) stay in the mock. From synchronous code: `asyncio.run(measure(...))`.
    """
    async with _sender(client, url, concurrency) as send:
        auth = await _token_via(send)
        cpu_before, client_before = _cpu(mock_pid), time.process_time()
        started = time.perf_counter()
        dossiers = _Dossiers(send, auth, started + seconds)
        await asyncio.gather(*(dossiers.worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after, client_cpu = _cpu(mock_pid), time.process_time() - client_before
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Floor(dossiers.calls, elapsed, concurrency, cpu, client_cpu, client)


@asynccontextmanager
async def _sender(client: str, url: str, concurrency: int) -> AsyncIterator[Send]:
    """`client`'s stack with a pool of `concurrency` connections, as a `Send`."""
    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

            async def via_httpx(
                method: str, path: str, headers: dict[str, str], body: bytes | None
            ) -> tuple[int, bytes]:
                response = await http.request(method, path, headers=headers, content=body)
                return response.status_code, response.content

            yield via_httpx
    elif client == "httpcore":
        async with httpcore.AsyncConnectionPool(max_connections=concurrency) as pool:

            async def via_httpcore(
                method: str, path: str, headers: dict[str, str], body: bytes | None
            ) -> tuple[int, bytes]:
                response = await pool.request(
                    method, url + path, headers=list(headers.items()), content=body
                )
                return response.status, response.content

            yield via_httpcore
    else:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(url, connector=connector) as session:

            async def via_aiohttp(
                method: str, path: str, headers: dict[str, str], body: bytes | None
            ) -> tuple[int, bytes]:
                async with session.request(method, path, headers=headers, data=body) as response:
                    return response.status, await response.read()

            yield via_aiohttp


def _cpu(pid: int | None) -> float | None:
    return None if pid is None else cpu_seconds(pid)


async def main(arguments: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    async with mock_process() as mock:
        for _ in range(arguments.repeat):
            for client in arguments.clients:
                floor = await measure(
                    mock.url,
                    arguments.seconds,
                    arguments.concurrency,
                    mock_pid=mock.pid,
                    client=client,
                )
                print(floor.describe(), flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
