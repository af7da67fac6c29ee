"""Migration 9826277aaacc on SQLite and PostgreSQL, with rows written as the revision before
it wrote them: afterwards no NIR, name or birth date is in clear, every snapshot and every
acknowledged titulaire reads back; down again, the old rows are back as they were."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import LargeBinary, String, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agora_bridge.agora.mapping import lot_line
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.planner import project
from agora_bridge.delivery.acknowledged import restored
from agora_bridge.errors import OperatorError
from agora_bridge.settings import ConfigurationError
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.storage.crypto import NirCrypto, row_aad
from agora_bridge.storage.db import current_revisions, downgrade, make_sessionmaker, upgrade
from agora_bridge.storage.dossiers import snapshot_of
from agora_bridge.storage.models import Dossier, EtatAgora, Json, UtcDateTime
from tests.storage.builders import GONE_KEY, NOW, OLD_KEY, crypto, nir, snapshot
from tests.stored_text import assert_absent, how_many_in, stored_bytes

BEFORE = "5d1e0a7c2b90"
NAMES: dict[str, Any] = {"stagiaire.nom_naissance": "Lefèvre", "stagiaire.prenom": "Zoé"}
# The values the old rows hold in clear, as written and as AGORA holds them.
PERSONAL = {"Lefèvre", "LEFEVRE", "Zoé", "ZOE", "1985-05-12", nir(1), nir_for_agora(nir(1))}


def old_dossier(item: Snapshot, keys: NirCrypto) -> dict[str, Any]:
    """A `dossier` row as revision 5d1e0a7c2b90 stored it: the NIR alone encrypted."""
    payload = item.model_dump(mode="json")
    raw = payload["stagiaire"].pop("nir")
    key_id, blob = keys.encrypt(raw, aad=row_aad(item.id_dossier)) if raw else (None, None)
    return {
        "id_dossier": item.id_dossier,
        "version": item.version,
        "date_maj": NOW,
        "payload": payload,
        "nir_ciphertext": blob,
        "nir_key_id": key_id,
        "nir_index": keys.blind_index(raw) if raw else None,
        "classement": "ENVOYABLE" if raw else "RETENU",
        "created_at": NOW,
        "updated_at": NOW,
    }


def old_etat(id_dossier: str, held: AgoraDossier, keys: NirCrypto) -> dict[str, Any]:
    """An `etat_agora` row as revision 5d1e0a7c2b90 stored it: the titulaire but its NIR."""
    data = lot_line(held, code_financeur="X").model_dump(mode="json")
    del data["titulaire"]["nir"], data["code_financeur"]
    return {
        "id_dossier": id_dossier,
        "id_agora": f"AG-{id_dossier}",
        "acquitte": {**data, "statut": held.statut.value},
        "nir_index": keys.blind_index(held.titulaire.nir),
        "acquitte_at": NOW,
    }


ITEMS = [
    snapshot(id_dossier="PDL-1", nir=nir(1), **NAMES),
    snapshot(id_dossier="PDL-2", nir=nir(2)),
    snapshot(id_dossier="PDL-3", nir=None, **NAMES),
]
# The old schema's columns, with the types the models give them.
OLD_DOSSIER = table(
    "dossier",
    *(column(name, Dossier.__table__.c[name].type) for name in ("id_dossier", "version")),
    column("date_maj", UtcDateTime()),
    column("payload", Json),
    column("nir_ciphertext", LargeBinary()),
    *(column(name, String()) for name in ("nir_key_id", "nir_index", "classement")),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)
OLD_ETAT = table(
    "etat_agora",
    *(column(name, String()) for name in ("id_dossier", "id_agora", "nir_index")),
    column("acquitte", Json),
    column("acquitte_at", UtcDateTime()),
)


async def write_old_rows(engine: AsyncEngine, keys: NirCrypto) -> None:
    await upgrade(engine, BEFORE)
    # PDL-1: AGORA holds our titulaire; PDL-2: another NIR, so a rectification is due.
    held_2 = project(snapshot(id_dossier="PDL-2", nir=nir(9)))
    etats = [old_etat("PDL-1", project(ITEMS[0]), keys), old_etat("PDL-2", held_2, keys)]
    async with engine.begin() as connection:
        await connection.execute(OLD_DOSSIER.insert(), [old_dossier(i, keys) for i in ITEMS])
        await connection.execute(OLD_ETAT.insert(), etats)


async def read_rows(engine: AsyncEngine) -> tuple[dict[str, Dossier], dict[str, EtatAgora]]:
    async with make_sessionmaker(engine)() as session:
        dossiers = (await session.execute(select(Dossier))).scalars()
        etats = (await session.execute(select(EtatAgora))).scalars()
        return {d.id_dossier: d for d in dossiers}, {e.id_dossier: e for e in etats}


async def test_the_migration_encrypts_what_was_in_clear(
    engine: AsyncEngine, database_url: str
) -> None:
    await write_old_rows(engine, crypto())
    found = how_many_in(await stored_bytes(database_url), PERSONAL)
    assert found > 0  # something to find

    await upgrade(engine, crypto=crypto())

    dossiers, etats = await read_rows(engine)
    for item in ITEMS:
        assert snapshot_of(dossiers[item.id_dossier], crypto()) == item
    assert dossiers["PDL-1"].nir_index == crypto().blind_index(nir(1))
    assert dossiers["PDL-3"].nir_index is None
    assert restored(etats["PDL-1"], project(ITEMS[0]), crypto()) == project(ITEMS[0])
    mismatch = restored(etats["PDL-2"], project(ITEMS[1]), crypto())
    assert mismatch.titulaire != project(ITEMS[1]).titulaire
    assert mismatch.statut == project(ITEMS[1]).statut
    assert_absent(await stored_bytes_of(engine, database_url), PERSONAL)


async def stored_bytes_of(engine: AsyncEngine, url: str) -> bytes:
    """On SQLite, after the VACUUM the README asks for: until then pages the migration freed
    may keep their old contents (here they happen to be reused, a larger table would not)."""
    if url.startswith("sqlite"):
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM"))
            await autocommit.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return await stored_bytes(url)


async def test_down_again_the_old_rows_are_back(engine: AsyncEngine) -> None:
    await write_old_rows(engine, crypto())
    async with engine.connect() as connection:
        before = await _old_rows(connection)
    await upgrade(engine, crypto=crypto())
    await downgrade(engine, BEFORE, crypto=crypto())
    async with engine.connect() as connection:
        after = await _old_rows(connection)
    # Compared without printing: the rows hold names and NIRs.
    same_dossiers = after[:3] == before[:3]
    assert same_dossiers
    same_titulaire = after[3] == before[3]  # PDL-1: AGORA holds the snapshot's titulaire
    assert same_titulaire
    # PDL-2: AGORA held another NIR. The digest cannot give it back: a NIR index that
    # matches nothing stands in, and the old code rectifies, as it would have.
    assert after[4][2] != before[4][2]
    assert after[4][2] != crypto().blind_index(nir_for_agora(nir(2)))


async def _old_rows(connection: AsyncConnection) -> list[Any]:
    """The old rows with their NIR decrypted (a ciphertext differs at every encryption)."""
    dossiers = (await connection.execute(select(OLD_DOSSIER).order_by("id_dossier"))).all()
    etats = (await connection.execute(select(OLD_ETAT).order_by("id_dossier"))).all()
    return [
        (
            d.id_dossier,
            d.payload,
            d.nir_index,
            d.nir_ciphertext
            and crypto().decrypt(d.nir_key_id, d.nir_ciphertext, aad=row_aad(d.id_dossier)),
        )
        for d in dossiers
    ] + [(e.id_dossier, e.acquitte, e.nir_index) for e in etats]


async def test_without_keys_the_migration_of_rows_stops_and_changes_nothing(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write_old_rows(engine, crypto())
    monkeypatch.delenv("AGORA_BRIDGE_NIR_KEYS", raising=False)
    with pytest.raises(ConfigurationError, match="AGORA_BRIDGE_NIR_KEYS is not set"):
        await upgrade(engine)  # production settings, no keys
    assert await current_revisions(engine) == (BEFORE,)
    # With a key missing from the ring, it names the dossiers it cannot decrypt.
    await downgrade(engine, "base")
    await write_old_rows(engine, crypto(GONE_KEY))
    with pytest.raises(OperatorError) as error:
        await upgrade(engine, crypto=crypto(OLD_KEY))
    assert str(error.value).startswith("2 dossier(s) whose NIR cannot be decrypted (PDL-1, PDL-2)")
    assert await current_revisions(engine) == (BEFORE,)
