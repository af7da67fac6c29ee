"""`agora-bridge import FILE`: the ingest API's semantics from a file."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from agora_bridge.cli.main import app
from agora_bridge.delivery import wakeup
from agora_bridge.storage import db
from tests.builders import snapshot_line
from tests.conftest import throwaway_pg_database


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.db"
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")  # the demo NIR keys
    return path


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def versions(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return dict(connection.execute("SELECT id_dossier, version FROM dossier").fetchall())


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_clean_file_is_stored_exit_0(database: Path, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    file = write(
        tmp_path / "d.jsonl",
        snapshot_line("VALIDE", id_dossier="PDL-1", version=2),
        snapshot_line("VALIDE", id_dossier="PDL-1", version=1),
        snapshot_line("ENTRE", id_dossier="PDL-2"),
    )
    result = run("import", str(file))
    assert result.exit_code == 0, result.output
    assert versions(database) == {"PDL-1": 2, "PDL-2": 1}
    assert "ACCEPTE" in result.stdout
    assert "IGNORE_VERSION_ANCIENNE" in result.stdout
    assert "d.jsonl" in result.stderr  # the progress bar


def test_rejected_lines_are_listed_exit_1(database: Path, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    file = tmp_path / "d.jsonl.gz"
    with gzip.open(file, "wt", encoding="utf-8") as stream:
        stream.write(snapshot_line("VALIDE", id_dossier="PDL-1") + "\n{}\n")
        stream.write(json.dumps({"id_dossier": "PDL-3", "version": 1}) + "\n")
    result = run("import", str(file))
    assert result.exit_code == 1
    assert versions(database) == {"PDL-1": 1}
    assert "line 2 (no id): " in result.stdout
    assert "line 3 (PDL-3): " in result.stdout
    assert "CHAMP_REQUIS" in result.stdout


def test_an_unreadable_file_is_exit_2_nothing_written(database: Path, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    for bad in (tmp_path / "missing.jsonl", write(tmp_path / "a.jsonl", "[1, 2]")):
        result = run("import", str(bad))
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert versions(database) == {}


def test_an_unmigrated_database_is_refused(database: Path, tmp_path: Path) -> None:
    result = run("import", str(write(tmp_path / "d.jsonl", snapshot_line())))
    assert result.exit_code == 2
    assert "run `agora-bridge db upgrade`" in result.stderr.splitlines()[-1]


async def test_an_import_wakes_sync_listening_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the ingest route does: a `sync` in another process hears of the new work at once
    rather than at its next tick."""
    async with throwaway_pg_database() as url:
        monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", url)
        monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
        assert (await asyncio.to_thread(run, "db", "upgrade")).exit_code == 0
        engine = db.make_engine(url)
        woken = asyncio.Event()
        try:
            sessions = db.make_sessionmaker(engine)
            async with wakeup.listening(sessions, woken.set, retry_s=0.1):
                await _until_listening(sessions)
                assert not woken.is_set()
                path = write(tmp_path / "delta.jsonl", snapshot_line("ENTRE"))
                result = await asyncio.to_thread(run, "import", str(path))
                assert result.exit_code == 0, result.output
                async with asyncio.timeout(5):
                    await woken.wait()
        finally:
            await engine.dispose()


async def test_a_long_import_wakes_sync_at_each_batch_it_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch's notification goes with its commit: a `sync` elsewhere starts on the first
    batch of a long import instead of after its last line (1,001 lines: three batches)."""
    async with throwaway_pg_database() as url:
        monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", url)
        monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
        assert (await asyncio.to_thread(run, "db", "upgrade")).exit_code == 0
        engine = db.make_engine(url)
        heard: list[float] = []
        try:
            sessions = db.make_sessionmaker(engine)
            async with wakeup.listening(sessions, lambda: heard.append(1.0), retry_s=0.1):
                await _until_listening(sessions)
                lines = [snapshot_line("VALIDE", id_dossier=f"PDL-{n}") for n in range(1001)]
                path = write(tmp_path / "long.jsonl", *lines)
                result = await asyncio.to_thread(run, "import", str(path))
                assert result.exit_code == 0, result.output
                async with asyncio.timeout(5):
                    while len(heard) < 3:
                        await asyncio.sleep(0.02)
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()
    assert len(heard) == 3


async def _until_listening(sessions: async_sessionmaker[AsyncSession]) -> None:
    listening = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    )
    async with asyncio.timeout(10):
        while True:
            async with sessions() as session:
                if await session.scalar(listening):
                    return
            await asyncio.sleep(0.05)
