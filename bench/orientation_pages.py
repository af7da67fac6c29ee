"""CPU and wall time of a list page after the first (`limit` 20, the organisme's listing of
600 orientations, 40 of them changed since the listing began), in process, sequential.

    .venv/bin/python -m bench.orientation_pages
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import time

import httpx

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging
from agora_bridge.settings import Settings
from bench.api_keys import throwaway_database
from bench.orientation import BASE, Client, Load, make_keys, seed

PAGES = 100


async def later_pages() -> list[str]:
    lines = [f"load average {os.getloadavg()[0]:.1f}"]
    async with throwaway_database() as url:
        keys = await make_keys(url)
        configure_logging(level="INFO", fmt="json", stream=io.StringIO())  # as serve logs
        app = create_app(Settings(mode="test", database_url=url))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as asgi,
        ):
            load = Load(Client(None, asgi), keys, random.Random(1))  # noqa: S311 - reproducible
            await seed(load, 600)
            params: dict[str, str | int] = {"limit": 20}
            first = await asgi.get(BASE, params=params, headers=keys.organisme)
            for _ in range(40):
                await load.transition()
            params["cursor"] = first.json()["next_cursor"]
            for _ in range(3):
                cpu, started = time.process_time(), time.perf_counter()
                for _ in range(PAGES):
                    answer = await asgi.get(BASE, params=params, headers=keys.organisme)
                    assert answer.status_code == 200, answer.text
                cpu_ms = (time.process_time() - cpu) * 1000 / PAGES
                wall_ms = (time.perf_counter() - started) * 1000 / PAGES
                lines.append(f"a later page: CPU {cpu_ms:.2f} ms, wall {wall_ms:.2f} ms")
    return [*lines, f"load average {os.getloadavg()[0]:.1f}"]


if __name__ == "__main__":
    print("\n".join(asyncio.run(later_pages())))
