"""`agora-bridge sync` stopped by SIGTERM at awkward moments (`docs/DELIVERY.md`, "Stopping"):
the passes in flight finish, no other starts, status 0, and no item is left leased by a
process that is gone. `tests/delivery/test_processes.py` has the rest of `sync` as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from agora_bridge.cli.main import app as cli
from agora_bridge.storage.livraisons import A_FAIRE, A_JOUR
from agora_bridge.storage.models import Livraison
from tests.builders import snapshot
from tests.conftest import PG_URL, throwaway_pg_database
from tests.delivery.harness import Bridge, delivery, historique
from tests.delivery.processes import environment, start
from tests.delivery.test_processes import alive, children_of

DOSSIERS = 6
# Each AGORA call this long: a pass (search, three steps) is in flight for half a second.
SLOW = {"latency_ms": [100, 100]}


async def ingest_dossiers(bridge: Bridge) -> None:
    await bridge.ingest(*(snapshot("SORTI", id_dossier=f"PDL-{n}") for n in range(DOSSIERS)))


async def leased(bridge: Bridge) -> int:
    async with bridge.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(Livraison).where(Livraison.lease_owner.is_not(None))
        )
        return found or 0


async def until_leased(bridge: Bridge) -> None:
    """A claim taken: the passes it started are in flight."""
    async with asyncio.timeout(8):
        while not await leased(bridge):
            await asyncio.sleep(0.02)


async def states(bridge: Bridge) -> dict[str, int]:
    async with bridge.sessions() as session:
        rows = await session.execute(select(Livraison.etat, func.count()).group_by(Livraison.etat))
        return dict(rows.all())  # not `dict(rows)`: a Result has `keys`, the columns


async def assert_nothing_lost(bridge: Bridge) -> None:
    """No lease left behind, every item to do or done; then delivered, each step once."""
    assert await leased(bridge) == 0
    assert set(await states(bridge)) <= {A_FAIRE, A_JOUR}
    await bridge.faults({})
    await bridge.drain()
    agora = await bridge.on_agora()
    assert len(agora) == DOSSIERS
    assert {tuple(historique(d)) for d in agora.values()} == {("CREATION", "ENTREE", "SORTIE")}


async def test_sync_once_stopped_by_sigterm_finishes_its_passes_and_exits_0(
    database_url: str,
) -> None:
    async with delivery(database_url) as bridge:
        await ingest_dossiers(bridge)
        await bridge.faults(SLOW)
        env = environment(database_url, bridge.mock.url, concurrency=2)
        process = await start(env, "sync", "--once")
        try:
            await until_leased(bridge)
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()[-2000:]
        passes = int(stdout.decode().removeprefix("sync done: ").split()[0])
        # The passes in flight finished (their dossiers are on AGORA), no other started.
        assert 1 <= passes < DOSSIERS
        assert (await states(bridge)).get(A_JOUR) == passes
        await assert_nothing_lost(bridge)


@pytest.mark.parametrize("moment", ["spawned", "importing", "delivering"])
async def test_sync_workers_stopped_by_sigterm_during_start_up_exits_0(moment: str) -> None:
    """SIGTERM while the children are still starting (Python importing, before `sync`
    catches signals) killed them outright, and the parent took that for a failure: exit 2."""
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        await ingest_dossiers(bridge)
        await bridge.faults(SLOW)
        env = environment(url, bridge.mock.url, concurrency=2)
        parent = await start(env, "sync", "--workers", "2")
        children: set[int] = set()
        try:
            async with asyncio.timeout(8):
                while not (children := children_of(parent.pid)):
                    await asyncio.sleep(0.01)
            if moment == "importing":
                await asyncio.sleep(0.5)
            elif moment == "delivering":
                await until_leased(bridge)
            parent.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                stdout, stderr = await parent.communicate()
        finally:
            for child in filter(alive, children | children_of(parent.pid)):
                os.kill(child, signal.SIGKILL)
            if parent.returncode is None:
                parent.kill()
                await parent.wait()
        assert parent.returncode == 0, stderr.decode()[-2000:]
        assert stdout.decode().startswith("sync done: ")
        assert not any(alive(child) for child in children)
        await assert_nothing_lost(bridge)


@pytest.fixture
def sigterm_kept() -> Iterator[list[int]]:
    """The signals this process gets: without `sync`'s own handler, a SIGTERM would end
    the test run rather than fail the test."""
    got: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sync_workers_stopped_while_starting_its_children_starts_no_other(
    monkeypatch: pytest.MonkeyPatch, sigterm_kept: list[int]
) -> None:
    """A SIGTERM as the first child is being started (before it is even in the parent's
    list of children): it is passed on to that child, and the others are never started."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(_command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        # A child that only waits, killed by SIGTERM like a `sync` still importing.
        child = real_popen([sys.executable, "-c", "import time; time.sleep(5)"], **options)
        started.append(child)
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor stops `sync` right then
        return child

    for name, value in environment(PG_URL, "http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(subprocess, "Popen", popen)
    result = CliRunner().invoke(cli, ["sync", "--workers", "3"])
    for child in started:
        child.kill()
        child.wait()
    assert sigterm_kept == []  # `sync` had the signal, not the fixture's handler
    assert len(started) == 1
    assert started[0].returncode == -signal.SIGTERM
    assert result.exit_code == 0, result.output
    assert result.output == "sync done: 0 dossier passes in 3 processes\n"
