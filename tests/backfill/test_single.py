"""One backfill at a time on a database: a second one is refused with one sentence and exit
status 2, stores nothing, and the lock dies with its holder (a SIGKILLed backfill blocks no
later run). The lot-line workers end with a SIGKILLed backfill too."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from agora_bridge.backfill.single import BackfillRunningError, only_backfill
from agora_bridge.cli.main import app
from agora_bridge.storage.db import make_engine, upgrade
from agora_bridge.storage.models import Reprise
from tests.backfill.cases import every_case_file
from tests.backfill.harness import backfill
from tests.conftest import sqlite_url
from tests.delivery.harness import delivery


async def test_a_second_backfill_is_refused_and_stores_nothing(
    database_url: str, tmp_path: Path
) -> None:
    path = every_case_file(tmp_path, dossiers=20)
    async with delivery(database_url) as bridge:
        other = make_engine(database_url)  # another process's connection
        try:
            async with only_backfill(other):
                with pytest.raises(BackfillRunningError, match="another backfill is running"):
                    await backfill(bridge, path)
                async with bridge.sessions() as session:
                    assert await session.scalar(select(func.count()).select_from(Reprise)) == 0
        finally:
            await other.dispose()
        # Released: the same command now runs to the end.
        report = await backfill(bridge, path)
        assert report.termine


async def test_the_lock_is_held_for_the_run_only(database_url: str) -> None:
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        async with only_backfill(first):
            with pytest.raises(BackfillRunningError):
                async with only_backfill(second):
                    pass
        async with only_backfill(second):
            pass
    finally:
        await first.dispose()
        await second.dispose()


def test_the_command_exits_2_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", url)
    path = every_case_file(tmp_path, dossiers=5)

    async def run_while_locked() -> tuple[int, str]:
        engine = make_engine(url)
        await upgrade(engine)
        try:
            async with only_backfill(engine):
                result = await asyncio.to_thread(
                    CliRunner().invoke, app, ["backfill", str(path), "--json"]
                )
        finally:
            await engine.dispose()
        return result.exit_code, result.stderr

    code, stderr = asyncio.run(run_while_locked())
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("Error: another backfill is running on this database")
    assert "Traceback" not in stderr


async def _lock_in_child(engine_url: str, tmp_path: Path) -> asyncio.subprocess.Process:
    """A process that takes the lock, starts a pool of one worker and waits."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from agora_bridge.backfill.building import Builder
        from agora_bridge.backfill.single import only_backfill
        from agora_bridge.storage.db import make_engine
        from tests.delivery.harness import CRYPTO

        async def main():
            async with only_backfill(make_engine({engine_url!r})):
                builder = Builder(CRYPTO, "REG52", workers=1)
                await builder.build_all([])
                pid = builder._pool.submit(__import__("os").getpid).result()
                print(pid, flush=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, cwd=Path.cwd()
    )


async def test_a_killed_backfill_leaves_neither_lock_nor_workers(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    child = await _lock_in_child(database_url, tmp_path)
    assert child.stdout is not None
    async with asyncio.timeout(60):
        worker = int(await child.stdout.readline())
    with pytest.raises(BackfillRunningError):
        async with only_backfill(engine):
            pass
    child.send_signal(signal.SIGKILL)
    await child.wait()
    async with asyncio.timeout(30):
        while True:  # the server notices the dropped connection within moments
            try:
                async with only_backfill(engine):
                    break
            except BackfillRunningError:
                await asyncio.sleep(0.1)
        while _alive(worker):
            await asyncio.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not reaped by its dead parent's adopter yet) has ended all the same.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return status != "Z"
