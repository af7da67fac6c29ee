"""`agora-bridge db …` and `agora-bridge nir-keys …` through typer, on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

from agora_bridge.cli.common import DatabaseUnavailableError, run_database_command
from agora_bridge.cli.main import app
from agora_bridge.snapshots.perimeter import SENDABLE
from agora_bridge.storage.crypto import KeyRing, decode_key
from agora_bridge.storage.db import head_revisions, make_engine, make_sessionmaker
from agora_bridge.storage.dossiers import load_nir, store_snapshot
from tests.storage.builders import GONE_KEY, NEW_KEY, NOW, OLD_KEY, crypto, nir, snapshot

INDEX_KEY = "C" * 42 + "Q"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite file named by AGORA_BRIDGE_DATABASE_URL, as an operator would configure it."""
    path = tmp_path / "bridge.db"
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{path}")
    for name in ("MODE", "NIR_KEYS", "NIR_INDEX_KEY"):
        monkeypatch.delenv(f"AGORA_BRIDGE_{name}", raising=False)
    return path


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def test_db_current_then_upgrade_then_current(database: Path) -> None:
    (head,) = head_revisions()
    before = run("db", "current")
    assert before.exit_code == 0
    assert "current revision: none, not the head" in before.output
    assert "agora-bridge db upgrade" in before.output

    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at head: {head}" in upgraded.output
    with sqlite3.connect(database) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    assert "dossier" in tables

    after = run("db", "current")
    assert after.stdout.strip() == f"current revision: {head} (head)"
    assert run("db", "upgrade").exit_code == 0  # idempotent


def test_an_unreachable_database_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    result = run("db", "current")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: the database failed:")
    assert "Traceback" not in result.output


def test_nir_keys_new_prints_a_key_list_entry() -> None:
    result = run("nir-keys", "new")
    assert result.exit_code == 0
    ring = KeyRing.parse(result.stdout.strip())
    assert re.fullmatch(r"k[0-9]{8}[0-9a-f]{6}", ring.newest_id)


def test_nir_keys_new_index_prints_an_index_key() -> None:
    result = run("nir-keys", "new", "--index")
    assert len(decode_key(result.stdout.strip(), setting="AGORA_BRIDGE_NIR_INDEX_KEY")) == 32


async def _store_two_nirs(database: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    async with make_sessionmaker(engine)() as session:
        for order in (1, 2):
            item = snapshot(id_dossier=f"PDL-{order}", nir=nir(order))
            await store_snapshot(session, item, SENDABLE, crypto(OLD_KEY), now=NOW)
        await session.commit()
    await engine.dispose()


async def _read_nirs(database: Path) -> list[str | None]:
    engine = make_engine(f"sqlite:///{database}")
    async with make_sessionmaker(engine)() as session:
        nirs = [await load_nir(session, f"PDL-{order}", crypto(NEW_KEY)) for order in (1, 2)]
    await engine.dispose()
    return nirs


def test_nir_keys_rotate(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("db", "upgrade").exit_code == 0
    asyncio.run(_store_two_nirs(database))
    monkeypatch.setenv("AGORA_BRIDGE_NIR_KEYS", f"{NEW_KEY},{OLD_KEY}")
    monkeypatch.setenv("AGORA_BRIDGE_NIR_INDEX_KEY", INDEX_KEY)

    result = run("nir-keys", "rotate", "--batch-size", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 NIR(s) re-encrypted under key new"
    assert asyncio.run(_read_nirs(database)) == [nir(1), nir(2)]


def test_nir_keys_rotate_refuses_to_run_without_keys_in_production(database: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    result = run("nir-keys", "rotate")
    assert result.exit_code == 2
    assert "AGORA_BRIDGE_NIR_KEYS" in result.stderr


def test_nir_keys_rotate_refuses_an_unmigrated_database(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
    result = run("nir-keys", "rotate")
    assert result.exit_code == 2
    assert "run `agora-bridge db upgrade`" in result.stderr


async def _store_under(url: str, rows: dict[int, str]) -> None:
    """Dossier PDL-<order> with NIR `nir(order)`, encrypted under the key ring given."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        for order, keys in rows.items():
            item = snapshot(id_dossier=f"PDL-{order}", nir=nir(order))
            await store_snapshot(session, item, SENDABLE, crypto(keys), now=NOW)
        await session.commit()
    await engine.dispose()


def test_nir_keys_rotate_reports_the_rows_it_cannot_decrypt(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and PostgreSQL: rows under a dropped key are listed, the rest rotated."""
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("AGORA_BRIDGE_NIR_KEYS", f"{NEW_KEY},{OLD_KEY}")
    monkeypatch.setenv("AGORA_BRIDGE_NIR_INDEX_KEY", INDEX_KEY)
    assert run("db", "upgrade").exit_code == 0
    asyncio.run(_store_under(database_url, {1: OLD_KEY, 2: GONE_KEY, 3: OLD_KEY, 4: GONE_KEY}))

    result = run("nir-keys", "rotate", "--batch-size", "1")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "2 NIR(s) re-encrypted under key new",
        "2 NIR(s) left under key gone, which is no longer in AGORA_BRIDGE_NIR_KEYS:",
        "  PDL-2",
        "  PDL-4",
    ]
    # The last line of stderr (the log goes there too): one sentence, why and what to do.
    assert result.stderr.splitlines()[-1] == (
        "Error: 2 NIR(s) could not be decrypted (listed above): put the missing key back in"
        " AGORA_BRIDGE_NIR_KEYS (after the newest) and run `agora-bridge nir-keys rotate`"
        " again."
    )
    for order in (1, 2, 3, 4):
        assert nir(order)[:13] not in result.output


def test_a_refused_value_is_named_by_its_class_never_quoted() -> None:
    class DataException(Exception):
        sqlstate = "22003"

    async def refused() -> None:
        orig = DataException("invalid input for query argument $2: 185057800608465")
        raise DBAPIError("INSERT …", None, orig)

    with pytest.raises(DatabaseUnavailableError) as caught:
        run_database_command(refused())
    assert "185057800608465" not in str(caught.value)
    assert "DataException 22003" in str(caught.value)
