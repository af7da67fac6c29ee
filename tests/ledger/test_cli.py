"""`agora-bridge ledger verify` and `ledger head` through typer, on a SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agora_bridge.cli.main import app
from agora_bridge.ledger.store import append
from agora_bridge.storage.db import make_engine, make_sessionmaker, upgrade
from agora_bridge.storage.executor import on_session
from tests.ledger.test_chain import entry


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


async def _ledger_of(url: str, count: int) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session, session.begin():
            await append(on_session(session), [entry(n) for n in range(1, count + 1)])
    finally:
        await engine.dispose()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.db"
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{path}")
    asyncio.run(_ledger_of(f"sqlite:///{path}", 4))
    return path


def test_verify_passes_then_names_the_altered_entry(database: Path) -> None:
    head = run("ledger", "head")
    assert head.exit_code == 0, head.output
    number, _, digest = head.stdout.split()
    assert number == "4"

    intact = run("ledger", "verify", "--head", digest)
    assert intact.exit_code == 0, intact.output
    assert f"ledger intact: 4 entries, head {digest}" in intact.output

    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE ledger_entry SET code = 'X' WHERE id = 2")
    broken = run("ledger", "verify")
    assert broken.exit_code == 1
    assert "ledger broken: entry 2: its content does not match its hash" in broken.output


def test_verify_refuses_a_chain_cut_after_the_anchor(database: Path) -> None:
    digest = run("ledger", "head").stdout.split()[-1]
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM ledger_entry WHERE id = 4")
    cut = run("ledger", "verify", "--head", digest)
    assert cut.exit_code == 1
    assert "the anchored head is not on the chain" in cut.output
    assert run("ledger", "verify").exit_code == 0  # without an anchor, a cut end is invisible


def test_an_unmigrated_database_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = run("ledger", "head")
    assert result.exit_code == 2
    assert "agora-bridge db upgrade" in result.output
