"""The AGORA mock's throughput: lots and synchronous calls, so it never dominates a benchmark.

    .venv/bin/python -m bench.mock_throughput [--dossiers 2000] [--concurrency 16]

1. A 10,000-line lot, in process: the time from `POST /lots` to `TRAITE` with no delay,
   split into intake (the POST) and processing (applying the lines).
2. The same lot over loopback HTTP against `agora-bridge mock-agora` in its own process.
3. Synchronous calls over loopback HTTP: each dossier is created, entered, exited and
   settled (4 calls), by `--concurrency` workers sharing one httpx client.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from tests.mocks.builders import STEP_BODIES, creation

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": DEMO_CLIENT_ID,
    "client_secret": DEMO_CLIENT_SECRET,
}
# The spec's example bodies, as the mock's own tests use them.
STEPS = {step: STEP_BODIES[step] for step in ("entree", "sortie", "solde")}


def lot_body(lines: int, prefix: str) -> bytes:
    """Half the lines settled dossiers (every step), half just validated."""
    rows = []
    for n in range(lines):
        row = creation(f"{prefix}-{n}")
        if n % 2:
            row.update(copy.deepcopy(STEPS))
        rows.append(json.dumps(row))
    return ("\n".join(rows) + "\n").encode()


def lot_headers(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key, "Content-Type": "application/x-ndjson"}


async def token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/agora/v2/oauth/token", data=TOKEN_FORM)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def lot_in_process(lines: int, repeat: int) -> tuple[list[float], list[float]]:
    intake, processing = [], []
    app = create_app(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, lot_delay_s=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        headers = await token(client)
        for run in range(repeat):
            body = lot_body(lines, f"IN{run}")
            started = time.perf_counter()
            response = await client.post(
                "/agora/v2/lots", content=body, headers={**headers, **lot_headers(f"in{run}")}
            )
            response.raise_for_status()
            posted = time.perf_counter()
            await app.state.mock.lots.wait_all()
            intake.append(posted - started)
            processing.append(time.perf_counter() - posted)
    return intake, processing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to tell the mock's cost from the client's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def mock_process() -> AsyncIterator[tuple[str, int]]:
    """`agora-bridge mock-agora` in its own process: the client does not share its core."""
    port = free_port()
    command = [sys.executable, "-m", "agora_bridge", "mock-agora", "--port", str(port)]
    command += ["--lot-delay-s", "0"]
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(150):
                try:
                    await client.post("/__mock__/reset")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


async def lot_over_http(client: httpx.AsyncClient, lines: int, repeat: int) -> list[float]:
    headers = await token(client)
    elapsed = []
    for run in range(repeat):
        body = lot_body(lines, f"HTTP{run}")
        started = time.perf_counter()
        response = await client.post(
            "/agora/v2/lots", content=body, headers={**headers, **lot_headers(f"http{run}")}
        )
        path = f"/agora/v2/lots/{response.json()['id_lot']}"
        while (await client.get(path, headers=headers)).json()["statut"] != "TRAITE":
            await asyncio.sleep(0.005)
        elapsed.append(time.perf_counter() - started)
    return elapsed


async def one_dossier(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> None:
    body = creation(f"SYNC-{n}")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    response = await client.post("/agora/v2/dossiers", json=body, headers={**headers, **key})
    response.raise_for_status()
    id_agora = response.json()["id_agora"]
    for step, step_body in STEPS.items():
        answer = await client.post(
            f"/agora/v2/dossiers/{id_agora}/{step}", json=step_body, headers=headers
        )
        answer.raise_for_status()


async def sync_calls(client: httpx.AsyncClient, dossiers: int, concurrency: int) -> float:
    """Calls per second: `dossiers` × (creation + 3 transitions)."""
    headers = await token(client)
    queue = iter(range(dossiers))

    async def worker() -> None:
        for n in queue:
            await one_dossier(client, headers, n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dossiers * (1 + len(STEPS)) / (time.perf_counter() - started)


async def main(arguments: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    intake, processing = await lot_in_process(arguments.lot_lines, arguments.repeat)
    print(
        f"lot of {arguments.lot_lines} lines, in process: "
        f"intake {statistics.median(intake):.3f} s, "
        f"processing {statistics.median(processing):.3f} s (median of {arguments.repeat}; "
        f"best {min(processing):.3f} s)"
    )
    limits = httpx.Limits(max_connections=arguments.concurrency)
    async with (
        mock_process() as (url, pid),
        httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client,
    ):
        over_http = await lot_over_http(client, arguments.lot_lines, arguments.repeat)
        print(
            f"lot of {arguments.lot_lines} lines over loopback HTTP, POST to TRAITE: "
            f"{statistics.median(over_http):.3f} s (median of {arguments.repeat})"
        )
        cpu_before = cpu_seconds(pid)
        rate = await sync_calls(client, arguments.dossiers, arguments.concurrency)
        calls = arguments.dossiers * (1 + len(STEPS))
        mock_cpu_ms = (cpu_seconds(pid) - cpu_before) / calls * 1000
        print(
            f"sync calls over loopback HTTP, concurrency {arguments.concurrency}: "
            f"{rate:.0f} calls/s ({arguments.dossiers} dossiers × 4 calls); the mock's CPU: "
            f"{mock_cpu_ms:.2f} ms a call, i.e. about {1000 / mock_cpu_ms:.0f} calls/s per core"
        )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--lot-lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
