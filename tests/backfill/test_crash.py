"""`agora-bridge backfill` SIGKILLed at random moments, then run again, until it finishes: AGORA
ends with every expected dossier exactly once, no lot line processed twice (the mock's stats),
the report whole; the same under the mock's faults. The logs and the database hold no NIR."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path
from typing import Any

from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import Dossier, from_agora
from agora_bridge.snapshots.nir import nir_for_agora
from tests.backfill.cases import every_case_file
from tests.backfill.harness import assert_acknowledged_as_on_agora, expected_on_agora, newest
from tests.conftest import sqlite_url, throwaway_pg_database
from tests.delivery.checks import in_order
from tests.delivery.harness import Bridge, delivery, historique
from tests.delivery.processes import environment, run, start
from tests.stored_text import stored_bytes

FAULTS = {
    "seed": 11,
    "error_rate": 0.15,
    "lost_response_rate": 0.05,
    "rate_limit_rate": 0.05,
    "retry_after_s": 0,
    "timeout_rate": 0.01,
    "latency_ms": [0, 3],
}
KILLS = 6


def backfill_environment(database_url: str, mock_url: str) -> dict[str, str]:
    return environment(database_url, mock_url) | {
        "AGORA_BRIDGE_BACKFILL__LOT_SIZE": "40",
        "AGORA_BRIDGE_BACKFILL__POLL_S": "0.02",
        "AGORA_BRIDGE_BACKFILL__POLL_MAX_S": "0.1",
    }


async def kill_while_working(
    env: dict[str, str], path: Path, log_path: Path, rng: random.Random, workers: int
) -> bool:
    """Start the backfill, wait until it works (it logged a batch stored, a token or a lot:
    past its start-up, which takes seconds on a busy machine), then SIGKILL it after a random
    moment; False when it had finished by then."""
    with log_path.open("wb") as log:
        process = await start(env, "backfill", str(path), "--workers", str(workers), log=log)
        async with asyncio.timeout(60):
            while process.returncode is None and not _working(log_path.read_bytes()):
                await asyncio.sleep(0.01)
        # Short: six kills must land before the work is done, on a quiet machine too.
        await asyncio.sleep(rng.uniform(0, 0.5))
        if process.returncode is not None:
            return False
        process.kill()  # no cleanup: transactions cut, lots in flight
        await process.wait()
        return True


def _working(log: bytes) -> bool:
    return any(event in log for event in (b"ingest.batch.stored", b"agora.", b"backfill."))


async def killed_then_finished(
    bridge: Bridge, database_url: str, tmp_path: Path, seed: int, workers: int
) -> dict[str, Any]:
    """`workers`: the backfill's pool (`--workers`), killed with it."""
    rng = random.Random(seed)
    path = every_case_file(tmp_path, dossiers=2000, seed=seed)
    env = backfill_environment(database_url, bridge.mock.url)
    kills = 0
    for attempt in range(3 * KILLS):
        log = tmp_path / f"run-{attempt}.log"
        kills += await kill_while_working(env, path, log, rng, workers)
        if kills == KILLS:
            break
    assert kills == KILLS
    arguments = ("backfill", str(path), "--json", "--workers", str(workers))
    done = await run(env, *arguments, timeout_s=120)
    assert done.status == 1, done.stderr  # the file has invalid lines
    (tmp_path / "last.log").write_text(done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    await bridge.faults({})
    await assert_exactly_once(bridge, path, report)
    await assert_no_nir(database_url, path, tmp_path)
    return report


async def assert_exactly_once(bridge: Bridge, path: Path, report: dict[str, Any]) -> None:
    expected = expected_on_agora(path)
    agora = await bridge.on_agora()
    assert agora.keys() == expected.keys()
    for key, held in agora.items():
        assert from_wire(from_agora(Dossier, held)) == expected[key], key
        assert in_order(historique(held)), key
        assert {event["id_lot"] for event in held["historique"]} != {None}, key
    await assert_acknowledged_as_on_agora(bridge, agora)
    stats = await bridge.stats()
    # Each line processed once: a lot sent again came back as the lot AGORA already had.
    assert stats["lignes_lot"] == {"ACCEPTE": len(expected), "REJETE": 0, "DOUBLON": 0}
    assert stats["lots"] == report["lots"]
    assert report["termine"]
    assert report["acceptes"] == report["envoyes"] == len(expected)


async def assert_no_nir(database_url: str, path: Path, tmp_path: Path) -> None:
    nirs = {s.stagiaire.nir for s in newest(path).values() if s.stagiaire.nir}
    values = nirs | {nir_for_agora(n) for n in nirs if len(n) == 15}
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("*.log"))
    assert b"ingest.batch.stored" in logs  # the search looks at something real
    assert nirs_in(logs, values) == 0
    assert nirs_in(await stored_bytes(database_url), values) == 0


def nirs_in(stored: bytes, nirs: set[str]) -> int:
    """How many of `nirs` `stored` holds: each run of NIR characters long enough to hold one
    is cut into every 13- and 15-character piece (thousands of NIRs in megabytes of database:
    one `in` a NIR would take minutes). A count, never the values (see `assert_absent`)."""
    found: set[bytes] = set()
    wanted = {nir.encode() for nir in nirs}
    for digits in re.findall(rb"[0-9AB]{13,}", stored):
        for size in (13, 15):
            found |= {digits[i : i + size] for i in range(len(digits) - size + 1)} & wanted
    return len(found)


async def test_backfill_killed_at_random_moments_sends_each_dossier_once(tmp_path: Path) -> None:
    # One backend each (SQLite here, PostgreSQL under faults): a run is minutes of start-ups.
    # With a pool of lot-line workers here, none under faults: both paths are killed.
    url = sqlite_url(tmp_path)
    async with delivery(url) as bridge:
        report = await killed_then_finished(bridge, url, tmp_path, seed=3, workers=2)
        assert not report["a_reprendre"]


async def test_backfill_killed_under_faults_sends_each_dossier_once(tmp_path: Path) -> None:
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        await bridge.faults(FAULTS)
        await killed_then_finished(bridge, url, tmp_path, seed=8, workers=0)
        stats = await bridge.stats()
        assert stats["rejeux_idempotents"] > 0  # lost answers made it send a lot again
