"""The NIRs a SQLite database was given appear nowhere in its files, in any form; nor do the
names and birth date."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from agora_bridge.snapshots.perimeter import SENDABLE
from agora_bridge.storage.db import make_engine, make_sessionmaker, upgrade
from agora_bridge.storage.dossiers import load_nir, store_snapshot
from tests.conftest import sqlite_url
from tests.storage.builders import NOW, crypto, nir, snapshot
from tests.stored_text import assert_absent

KNOWN = [nir(order) for order in (11, 22, 33)]


async def _fill(url: str) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    async with make_sessionmaker(engine)() as session:
        for number, known in enumerate(KNOWN):
            typed = f"{known[:1]} {known[1:3]} {known[3:5]} {known[5:7]} {known[7:10]} {known[10:]}"
            for version in (1, 2):  # the replaced version must leave no trace either
                item = snapshot(id_dossier=f"PDL-{number}", version=version, nir=typed)
                await store_snapshot(session, item, SENDABLE, crypto(), now=NOW)
        await session.commit()
        assert await load_nir(session, "PDL-0", crypto()) == KNOWN[0]
    # Everything into the main file, so that the bytes read below are the database's.
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        busy, _, _ = (await autocommit.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
        assert busy == 0
    await engine.dispose()


async def test_the_database_files_hold_no_nir(tmp_path: Path) -> None:
    await _fill(sqlite_url(tmp_path))
    files = [path for path in tmp_path.iterdir() if path.name.startswith("bridge.db")]
    contents = b"".join(path.read_bytes() for path in files)
    assert b"PDL-0" in contents  # the rows are there
    for known in KNOWN:
        for form in (known, known[:13], known[:13][::-1]):
            assert form.encode() not in contents
            assert form.encode("utf-16-le") not in contents
    assert_absent(contents, ["Dupont", "DUPONT", "Jean", "JEAN", "1985-05-12"])
