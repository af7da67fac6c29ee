"""`agora-bridge sync` and `replay` as processes: SIGKILL at random moments and restarts lose
and duplicate nothing; two engines on one PostgreSQL database never send a step twice; the
logs and the database hold no NIR, name or birth date."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path

from sqlalchemy import text

from agora_bridge.ledger.store import read_chain
from tests.builders import snapshot
from tests.conftest import throwaway_pg_database
from tests.delivery.checks import assert_end_state, assert_work_items, ingest_concurrently
from tests.delivery.faulty import SIRET_REFUSED
from tests.delivery.harness import Bridge, delivery, historique
from tests.delivery.histories import deliveries, history, personal_data
from tests.delivery.processes import environment, run, start
from tests.delivery.test_interleavings import CREATION
from tests.stored_text import assert_absent, stored_bytes

FAULTS = {"seed": 3, "error_rate": 0.2, "lost_response_rate": 0.05, "latency_ms": [0, 3]}


async def test_sync_once_delivers_what_is_due_then_exits(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        await bridge.ingest(*(snapshot("SORTI", id_dossier=f"PDL-{n}") for n in range(3)))
        done = await run(environment(database_url, bridge.mock.url), "sync", "--once")
        assert done.status == 0, done.stderr
        assert done.stdout.strip() == "sync done: 3 dossier passes"
        assert await bridge.pending() == 0
        agora = await bridge.on_agora()
        assert {tuple(historique(d)) for d in agora.values()} == {("CREATION", "ENTREE", "SORTIE")}


async def test_sync_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = await run(environment(url, "http://127.0.0.1:9"), "sync", "--once")
    assert done.status == 2
    assert "agora-bridge db upgrade" in done.stderr


async def test_replay_puts_parked_dossiers_back(database_url: str) -> None:
    async with delivery(database_url) as bridge:
        bridge.transport.refuse("POST", CREATION, status=422, body=SIRET_REFUSED)
        await bridge.ingest(snapshot("VALIDE", id_dossier="PDL-1"))
        await bridge.drain()
        env = environment(database_url, bridge.mock.url)
        refused = await run(env, "replay", "--code", "SIRET_INVALIDE", "--dossier", "PDL-1")
        assert refused.status == 2
        assert "exactly one of" in refused.stderr
        done = await run(env, "replay", "--code", "SIRET_INVALIDE")
        assert done.status == 0, done.stderr
        assert done.stdout.strip() == "replayed 1 parked dossiers: PDL-1"
        item = await bridge.item("PDL-1")
        assert (item.etat, item.code) == ("A_FAIRE", None)
        async with bridge.sessions() as session:
            kinds = [link.entry.kind async for link in read_chain(session)]
        assert kinds[-1] == "operator.replay"


async def wait_until_delivered(bridge: Bridge, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while await bridge.pending():
            await asyncio.sleep(0.2)


async def assert_ledger_verified_then_broken(bridge: Bridge, env: dict[str, str]) -> None:
    verified = await run(env, "ledger", "verify")
    assert verified.status == 0, verified.stderr
    assert verified.stdout.startswith("ledger intact: ")
    async with bridge.sessions() as session, session.begin():
        await session.execute(text("UPDATE ledger_entry SET code = 'ALTERE' WHERE id = 42"))
    broken = await run(env, "ledger", "verify")
    assert broken.status == 1
    assert "ledger broken: entry 42: " in broken.stderr


async def test_sync_killed_at_random_moments_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(17)
    histories = [history(rng, n) for n in range(80)]
    log_path = tmp_path / "sync.log"
    async with delivery(database_url) as bridge:
        await bridge.faults(FAULTS)
        env = environment(database_url, bridge.mock.url)
        ingesting = asyncio.create_task(
            ingest_concurrently(bridge, deliveries(rng, histories, stale=100))
        )
        with log_path.open("wb") as log:
            for _ in range(6):
                process = await start(env, "sync", log=log)
                await asyncio.sleep(rng.uniform(0.3, 1.2))
                process.kill()  # SIGKILL: no cleanup, claims left leased
                await process.wait()
            await ingesting
            process = await start(env, "sync", log=log)
            try:
                await wait_until_delivered(bridge, 60)
            finally:
                process.terminate()
                await process.wait()
        await bridge.faults({})
        await assert_end_state(bridge, histories)
        await assert_work_items(bridge, parked=0)
        await assert_ledger_verified_then_broken(bridge, env)
        log_text = log_path.read_text()
        assert "agora.request" in log_text  # the search below looks at something real
        assert_absent(log_text.encode(), personal_data(histories))
        stored = await stored_bytes(database_url)
        assert b"SOAK-0001" in stored  # the search below looks at something real
        assert_absent(stored, personal_data(histories))


async def test_two_engines_on_one_postgresql_database_send_nothing_twice() -> None:
    rng = random.Random(23)
    histories = [history(rng, n) for n in range(80)]
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        await bridge.faults(FAULTS)
        await ingest_concurrently(bridge, deliveries(rng, histories, stale=50))
        env = environment(url, bridge.mock.url)
        engines = [await start(env, "sync") for _ in range(2)]
        try:
            await wait_until_delivered(bridge, 60)
        finally:
            for process in engines:
                process.terminate()
            outputs = [await process.communicate() for process in engines]
        await bridge.faults({})
        await assert_end_state(bridge, histories)
        # Both engines worked: each one's log shows AGORA calls.
        for stdout, stderr in outputs:
            records = [
                json.loads(line) for line in (stdout + stderr).splitlines() if line.startswith(b"{")
            ]
            assert any(r["event"].startswith("agora.request") for r in records)


async def test_sync_workers_run_engines_in_processes_and_send_nothing_twice() -> None:
    """`sync --workers 3 --once` on PostgreSQL: three engines, each dossier delivered once."""
    rng = random.Random(29)
    histories = [history(rng, n) for n in range(60)]
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        await ingest_concurrently(bridge, deliveries(rng, histories, stale=30))
        env = environment(url, bridge.mock.url)
        done = await run(env, "sync", "--once", "--workers", "3")
        assert done.status == 0, done.stderr
        passes = int(done.stdout.split(":")[1].split()[0])
        assert done.stdout.strip() == f"sync done: {passes} dossier passes in 3 processes"
        assert passes >= len(histories)  # the children's totals, summed
        assert await bridge.pending() == 0
        await assert_end_state(bridge, histories)


async def test_sync_workers_are_refused_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one-writer.db'}"
    done = await run(environment(url, "http://127.0.0.1:9"), "sync", "--workers", "2")
    assert done.status == 2
    assert "--workers needs PostgreSQL" in done.stderr


def children_of(parent: int) -> set[int]:
    """The pids whose parent is `parent`, from /proc (CI is Linux)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_sync_workers_stop_when_their_parent_is_killed() -> None:
    """SIGKILL cannot be passed on: the children stop all the same (SIGTERM from the kernel),
    rather than run on beside the engines a supervisor would start again."""
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        parent = await start(environment(url, bridge.mock.url), "sync", "--workers", "2")
        async with asyncio.timeout(30):
            while len(children := children_of(parent.pid)) < 2:
                await asyncio.sleep(0.1)
        parent.kill()
        try:
            async with asyncio.timeout(30):
                while any(alive(child) for child in children):
                    await asyncio.sleep(0.1)
        finally:  # else they would hold the parent's pipes and the database's drop for ever
            for child in filter(alive, children):
                os.kill(child, signal.SIGKILL)
            await parent.wait()


async def test_sync_workers_stop_together_when_one_child_dies() -> None:
    """A child killed (out of memory, by hand) stops the others and `sync --workers` fails,
    for its supervisor to start it again, instead of running on with fewer engines."""
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        parent = await start(environment(url, bridge.mock.url), "sync", "--workers", "2")
        async with asyncio.timeout(30):
            while len(children := children_of(parent.pid)) < 2:
                await asyncio.sleep(0.1)
        killed, other = sorted(children)
        os.kill(killed, signal.SIGKILL)
        try:
            async with asyncio.timeout(30):
                _, stderr = await parent.communicate()
        finally:
            for child in filter(alive, children):
                os.kill(child, signal.SIGKILL)
            if parent.returncode is None:
                parent.kill()
                await parent.wait()
        assert parent.returncode == 2
        assert "of 2 sync processes failed" in stderr.decode()
        assert not alive(other)
