"""The AGORA mock's throughput: lots and synchronous calls, so it never dominates a benchmark.

    .venv/bin/python -m bench.mock_throughput [--seconds 10] [--concurrency 4]

1. A 10,000-line lot, in process: the time from `POST /lots` to `TRAITE` with no delay,
   split into intake (the POST) and processing (applying the lines).
2. The same lot over loopback HTTP against `agora-bridge mock-agora` in its own process.
3. Synchronous calls over loopback HTTP against the same process: the floor (`bench.floor`),
   with the mock's CPU a call.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import statistics
import sys
import time

import httpx

from bench.floor import STEPS, measure, mock_process, token_headers
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from tests.mocks.builders import STEP_BODIES, creation


def lot_body(lines: int, prefix: str) -> bytes:
    """Half the lines settled dossiers (every step), half just validated."""
    rows = []
    for n in range(lines):
        row = creation(f"{prefix}-{n}")
        if n % 2:
            row.update(copy.deepcopy({step: STEP_BODIES[step] for step in STEPS}))
        rows.append(json.dumps(row))
    return ("\n".join(rows) + "\n").encode()


def lot_headers(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key, "Content-Type": "application/x-ndjson"}


async def lot_in_process(lines: int, repeat: int) -> tuple[list[float], list[float]]:
    intake, processing = [], []
    app = create_app(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, lot_delay_s=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        headers = await token_headers(client)
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


async def lot_over_http(client: httpx.AsyncClient, lines: int, repeat: int) -> list[float]:
    headers = await token_headers(client)
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


async def main(arguments: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    intake, processing = await lot_in_process(arguments.lot_lines, arguments.repeat)
    print(
        f"lot of {arguments.lot_lines} lines, in process: "
        f"intake {statistics.median(intake):.3f} s, "
        f"processing {statistics.median(processing):.3f} s (median of {arguments.repeat}; "
        f"best {min(processing):.3f} s)"
    )
    async with mock_process() as mock:
        async with httpx.AsyncClient(base_url=mock.url, timeout=60) as client:
            over_http = await lot_over_http(client, arguments.lot_lines, arguments.repeat)
        print(
            f"lot of {arguments.lot_lines} lines over loopback HTTP, POST to TRAITE: "
            f"{statistics.median(over_http):.3f} s (median of {arguments.repeat})"
        )
        floor = await measure(mock.url, arguments.seconds, arguments.concurrency, mock_pid=mock.pid)
        print(f"sync calls over loopback HTTP (the floor): {floor.describe()}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--lot-lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
