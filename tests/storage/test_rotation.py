"""Key rotation reaches every ciphertext the bridge keeps, not only the dossiers': orientation
candidates and backfill lot bodies, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.backfill.packing import body_aad
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.db import make_engine, make_sessionmaker
from agora_bridge.storage.models import LotReprise, Organisation, Orientation, Reprise
from agora_bridge.storage.orientations import candidat_aad
from agora_bridge.storage.rotation import LeftBehind, rotate_all
from tests.storage.builders import GONE_KEY, NEW_KEY, NOW, OLD_KEY, crypto, nir
from tests.storage.test_cli import INDEX_KEY, run

Sessions = async_sessionmaker[AsyncSession]
CANDIDAT = {"nir": nir(1), "nom": "MARTIN", "prenom": "Léa", "date_naissance": "1990-01-02"}


def candidate_row(orientation_id: str, seq: int, keys: NirCrypto) -> dict[str, object]:
    key_id, blob = keys.encrypt(json.dumps(CANDIDAT), aad=candidat_aad(orientation_id))
    return {
        "id": orientation_id,
        "statut": "PRESCRITE",
        "version": 1,
        "seq": seq,
        "cree_par": "org-1",
        "organisme_siret": "35600000000048",
        "action_numero": "A-1",
        "session_numero": "S-1",
        "candidat_ciphertext": blob,
        "candidat_key_id": key_id,
        "identite_index": "0" * 64,
        "etat": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


def lot_row(cle: str, numero: int, keys: NirCrypto | None) -> dict[str, object]:
    sealed = keys.encrypt(f'{{"lignes": ["{nir(numero)}"]}}', aad=body_aad(cle)) if keys else None
    return {
        "cle": cle,
        "reprise_id": "r-1",
        "numero": numero,
        "statut": "DEPOSE" if keys else "TRAITE",
        "nb_lignes": 1,
        "dossiers": [["PDL-1", 1, 1]],
        "corps_key_id": sealed[0] if sealed else None,
        "corps": sealed[1] if sealed else None,
        "request_id": f"req-{numero}",
        "created_at": NOW,
    }


async def seed(sessions: Sessions) -> None:
    organisation = {"id": "org-1", "name": "Prescripteur", "role": "OPS", "created_at": NOW}
    reprise = {
        "id": "r-1",
        "fichier": "historique.jsonl",
        "since_date": date(2017, 1, 1),
        "compteurs": {},
        "created_at": NOW,
    }
    old, gone = crypto(OLD_KEY), crypto(GONE_KEY)
    async with sessions() as session, session.begin():
        await session.execute(insert(Organisation), [organisation])
        await session.execute(insert(Reprise), [reprise])
        await session.execute(
            insert(Orientation),
            [
                candidate_row("o-1", 1, old),
                candidate_row("o-2", 2, gone),
                candidate_row("o-3", 3, old),
            ],
        )
        # Lot 3's outcomes are recorded: its body is gone, there is nothing to rotate.
        await session.execute(
            insert(LotReprise),
            [lot_row("k-1", 1, old), lot_row("k-2", 2, gone), lot_row("k-3", 3, None)],
        )


async def test_orientation_candidates_and_lot_bodies_are_rotated(session_maker: Sessions) -> None:
    await seed(session_maker)
    ring = crypto(f"{NEW_KEY},{OLD_KEY}")  # "gone" was dropped before its rows were rotated

    reports = await rotate_all(session_maker, ring, batch_size=1)

    assert reports["orientation"].rotated == 2
    assert reports["orientation"].unknown_keys == {"gone": LeftBehind(1, ["o-2"])}
    assert reports["lot"].rotated == 1
    assert reports["lot"].unknown_keys == {"gone": LeftBehind(1, ["k-2"])}
    assert reports["dossier"].rotated == 0
    async with session_maker() as session:
        candidates = (await session.execute(select(Orientation).order_by(Orientation.id))).scalars()
        for row in candidates:
            if row.id == "o-2":
                assert row.candidat_key_id == "gone"
                continue
            assert row.candidat_key_id == "new"
            text = crypto(NEW_KEY).decrypt("new", row.candidat_ciphertext, aad=candidat_aad(row.id))
            assert json.loads(text) == CANDIDAT
        lots = {row.cle: row for row in (await session.execute(select(LotReprise))).scalars()}
    assert lots["k-1"].corps_key_id == "new"
    assert lots["k-1"].corps is not None
    opened = crypto(NEW_KEY).decrypt("new", lots["k-1"].corps, aad=body_aad("k-1"))
    assert opened == f'{{"lignes": ["{nir(1)}"]}}'
    assert (lots["k-2"].corps_key_id, lots["k-3"].corps_key_id, lots["k-3"].corps) == (
        "gone",
        None,
        None,
    )

    again = await rotate_all(session_maker, ring)
    assert (again["orientation"].rotated, again["lot"].rotated) == (0, 0)
    assert again["orientation"].left_behind == again["lot"].left_behind == 1


async def test_a_candidate_moved_to_another_row_does_not_authenticate(
    session_maker: Sessions,
) -> None:
    """The associated data binds each ciphertext to its row; the rotation keeps it bound."""
    await seed(session_maker)
    async with session_maker() as session, session.begin():
        first = await session.get(Orientation, "o-1")
        third = await session.get(Orientation, "o-3")
        assert first is not None
        assert third is not None
        third.candidat_ciphertext = first.candidat_ciphertext

    reports = await rotate_all(session_maker, crypto(f"{NEW_KEY},{OLD_KEY},{GONE_KEY}"))

    assert reports["orientation"].not_authentic == LeftBehind(1, ["o-3"])
    assert reports["orientation"].rotated == 2


def test_the_command_reports_each_kind_and_names_what_it_could_not_open(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("AGORA_BRIDGE_NIR_KEYS", f"{NEW_KEY},{OLD_KEY}")
    monkeypatch.setenv("AGORA_BRIDGE_NIR_INDEX_KEY", INDEX_KEY)
    assert run("db", "upgrade").exit_code == 0

    async def seeded() -> None:
        engine = make_engine(database_url)
        await seed(make_sessionmaker(engine))
        await engine.dispose()

    asyncio.run(seeded())

    result = run("nir-keys", "rotate")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "0 NIR(s) re-encrypted under key new",
        "2 orientation candidate(s) re-encrypted under key new",
        "1 backfill lot body(ies) re-encrypted under key new",
        "1 orientation candidate(s) left under key gone, which is no longer in"
        " AGORA_BRIDGE_NIR_KEYS:",
        "  o-2",
        "1 backfill lot body(ies) left under key gone, which is no longer in"
        " AGORA_BRIDGE_NIR_KEYS:",
        "  k-2",
    ]
    assert result.stderr.splitlines()[-1] == (
        "Error: 1 orientation candidate(s), 1 backfill lot body(ies) could not be decrypted"
        " (listed above): put the missing key back in AGORA_BRIDGE_NIR_KEYS (after the newest)"
        " and run `agora-bridge nir-keys rotate` again."
    )
    assert nir(1)[:13] not in result.output
