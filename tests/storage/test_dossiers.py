"""The snapshot store, on SQLite and PostgreSQL: versions, concurrency, the identity (NIR,
names, birth date) at rest, rotation."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import SENDABLE, Classement, Classification
from agora_bridge.storage import rotation
from agora_bridge.storage.crypto import NirCrypto, NirDecryptionError, row_aad
from agora_bridge.storage.dossiers import (
    StoreOutcome,
    load_nir,
    snapshot_of,
    store_snapshot,
)
from agora_bridge.storage.identity import identite_index
from agora_bridge.storage.models import Dossier
from agora_bridge.storage.rotation import DOSSIER, LeftBehind, rotate
from tests.storage.builders import (
    GONE_KEY,
    NEW_KEY,
    NIR,
    NOW,
    OLD_KEY,
    crypto,
    nir,
    snapshot,
)
from tests.stored_text import assert_absent

Sessions = async_sessionmaker[AsyncSession]
HELD = Classification(Classement.RETENU, "NIR_ABSENT")


async def store(
    sessions: Sessions,
    item: Snapshot,
    *,
    classification: Classification = SENDABLE,
    nir_crypto: NirCrypto | None = None,
    now: timedelta = timedelta(),
) -> StoreOutcome:
    """One unit of work, as a request or a command does it."""
    async with sessions() as session:
        outcome = await store_snapshot(
            session, item, classification, nir_crypto or crypto(), now=NOW + now
        )
        await session.commit()
        return outcome


async def stored(sessions: Sessions, id_dossier: str = "PDL-TEST-1") -> Dossier:
    async with sessions() as session:
        statement = select(Dossier).where(Dossier.id_dossier == id_dossier)
        return (await session.execute(statement)).scalar_one()


async def stored_nir(sessions: Sessions, id_dossier: str, nir_crypto: NirCrypto) -> str | None:
    async with sessions() as session:
        return await load_nir(session, id_dossier, nir_crypto)


async def test_a_new_dossier_is_inserted(session_maker: Sessions) -> None:
    assert await store(session_maker, snapshot()) is StoreOutcome.ACCEPTE
    row = await stored(session_maker)
    assert (row.version, row.classement, row.motif) == (1, "ENVOYABLE", None)
    assert row.date_maj == snapshot().date_maj
    assert row.date_maj.utcoffset() == timedelta(0)
    assert (row.created_at, row.updated_at, row.versions_ignorees) == (NOW, NOW, 0)


async def test_a_newer_version_replaces_the_state(session_maker: Sessions) -> None:
    await store(session_maker, snapshot(version=1))
    newer = snapshot(version=2, nir=None, statut="ANNULE", annulation=ANNULATION)
    outcome = await store(session_maker, newer, classification=HELD, now=timedelta(hours=1))
    assert outcome is StoreOutcome.ACCEPTE
    row = await stored(session_maker)
    assert (row.version, row.classement, row.motif) == (2, "RETENU", "NIR_ABSENT")
    assert row.payload["statut"] == "ANNULE"
    assert (row.created_at, row.updated_at) == (NOW, NOW + timedelta(hours=1))
    assert row.nir_index is None
    assert await stored_nir(session_maker, "PDL-TEST-1", crypto()) is None
    assert snapshot_of(row, crypto()).stagiaire.nir is None


ANNULATION = {"date": "2026-08-25", "motif": "DESISTEMENT"}


@pytest.mark.parametrize("version", [1, 3])
async def test_an_older_or_equal_version_is_ignored_and_counted(
    session_maker: Sessions, version: int
) -> None:
    await store(session_maker, snapshot(version=3))
    stale = snapshot(version=version, statut="ANNULE", annulation=ANNULATION)
    assert await store(session_maker, stale) is StoreOutcome.IGNORE_VERSION_ANCIENNE
    assert await store(session_maker, stale) is StoreOutcome.IGNORE_VERSION_ANCIENNE
    row = await stored(session_maker)
    assert (row.version, row.payload["statut"], row.versions_ignorees) == (3, "VALIDE", 2)


async def test_concurrent_writers_of_one_dossier_keep_the_highest_version(
    session_maker: Sessions,
) -> None:
    versions = list(range(1, 13))
    random.Random(7).shuffle(versions)

    async def write(version: int) -> StoreOutcome:
        async with session_maker() as session:
            outcome = await store_snapshot(
                session, snapshot(version=version), SENDABLE, crypto(), now=NOW
            )
            await asyncio.sleep(0.005)  # hold the row lock while the others queue up
            await session.commit()
            return outcome

    outcomes = await asyncio.gather(*(write(version) for version in versions))
    row = await stored(session_maker)
    assert row.version == max(versions)
    ignored = outcomes.count(StoreOutcome.IGNORE_VERSION_ANCIENNE)
    assert row.versions_ignorees == ignored
    assert ignored + outcomes.count(StoreOutcome.ACCEPTE) == len(versions)


async def test_the_payload_holds_no_personal_data(session_maker: Sessions) -> None:
    await store(session_maker, snapshot(nir="1 85 05 78 006 084 91"))
    row = await stored(session_maker)
    assert set(row.payload["stagiaire"]) == {"sexe", "niveau_entree"}
    text = json.dumps(row.payload).encode()
    assert_absent(text, [NIR[:13], "1 85 05", "Dupont", "Jean", "1985-05-12"])
    assert_absent(row.identite_ciphertext, [NIR, "Dupont", "Jean", "1985-05-12"])


@pytest.mark.parametrize(
    ("nom", "prenom"), [("Dupont", "Jean"), ("d'Arc-Noël", "Éloïse"), ("Œuvray  Łukasz", "Zoé")]
)
async def test_the_snapshot_round_trips_with_its_identity(
    session_maker: Sessions, nom: str, prenom: str
) -> None:
    typed = "1 85 05 78 006 084 91"
    names: dict[str, Any] = {"stagiaire.nom_naissance": nom, "stagiaire.prenom": prenom}
    item = snapshot(nir=typed, **names)
    await store(session_maker, item)
    row = await stored(session_maker)
    assert snapshot_of(row, crypto()) == item.model_copy(
        update={"stagiaire": item.stagiaire.model_copy(update={"nir": NIR})}
    )
    assert await stored_nir(session_maker, "PDL-TEST-1", crypto()) == NIR
    assert (row.identite_key_id, row.nir_index) == ("old", crypto().blind_index(NIR))
    assert row.identite_index == identite_index(crypto(), nom, prenom, "1985-05-12")


def test_the_identity_index_ignores_how_the_names_were_typed() -> None:
    typed = identite_index(crypto(), " d'arc-NOEL ", "éloïse", "1985-05-12")
    assert typed == identite_index(crypto(), "D'Arc-Noël", "Eloise", "1985-05-12")
    assert typed != identite_index(crypto(), "D'Arc-Noël", "Eloise", "1985-05-13")
    assert typed != identite_index(crypto(), "Eloise", "D'Arc-Noël", "1985-05-12")


async def test_no_nir_is_no_nir(session_maker: Sessions) -> None:
    await store(session_maker, snapshot(nir=None), classification=HELD)
    await store(session_maker, snapshot(id_dossier="PDL-BLANK", nir=" "), classification=HELD)
    assert await stored_nir(session_maker, "PDL-TEST-1", crypto()) is None
    assert await stored_nir(session_maker, "PDL-BLANK", crypto()) is None
    assert await stored_nir(session_maker, "PDL-UNKNOWN", crypto()) is None


async def test_a_ciphertext_is_bound_to_its_row(session_maker: Sessions) -> None:
    await store(session_maker, snapshot(id_dossier="PDL-A", nir=nir(1)))
    await store(session_maker, snapshot(id_dossier="PDL-B", nir=nir(2)))
    row_a = await stored(session_maker, "PDL-A")
    with pytest.raises(NirDecryptionError):
        crypto().decrypt(row_a.identite_key_id, row_a.identite_ciphertext, aad=row_aad("PDL-B"))

    # Copying A's ciphertext onto B's row does not give B A's NIR.
    async with session_maker() as session:
        await session.execute(
            update(Dossier)
            .where(Dossier.id_dossier == "PDL-B")
            .values(identite_ciphertext=row_a.identite_ciphertext)
        )
        await session.commit()
    with pytest.raises(NirDecryptionError):
        await stored_nir(session_maker, "PDL-B", crypto())


async def test_rotation_re_encrypts_under_the_newest_key(session_maker: Sessions) -> None:
    for order in (1, 2, 3):
        await store(session_maker, snapshot(id_dossier=f"PDL-{order}", nir=nir(order)))
    await store(session_maker, snapshot(id_dossier="PDL-NONE", nir=None), classification=HELD)
    both = crypto(f"{NEW_KEY},{OLD_KEY}")
    # Before the rotation, rows under the old key stay readable with the new ring.
    assert await stored_nir(session_maker, "PDL-1", both) == nir(1)

    report = await rotate(session_maker, both, DOSSIER, batch_size=2)
    # PDL-NONE too: its names and birth date are encrypted even without a NIR.
    assert (report.rotated, report.left_behind) == (4, 0)

    assert set((await key_ids(session_maker)).values()) == {"new"}
    new_only = crypto(NEW_KEY)
    for order in (1, 2, 3):
        assert await stored_nir(session_maker, f"PDL-{order}", new_only) == nir(order)
    assert (await rotate(session_maker, both, DOSSIER)).rotated == 0


async def store_under(sessions: Sessions, keys: str, *orders: int) -> None:
    for order in orders:
        item = snapshot(id_dossier=f"PDL-{order}", nir=nir(order))
        await store(sessions, item, nir_crypto=crypto(keys))


async def key_ids(sessions: Sessions) -> dict[str, str | None]:
    async with sessions() as session:
        rows = await session.execute(select(Dossier.id_dossier, Dossier.identite_key_id))
        return dict(rows.all())


async def test_rotation_reports_rows_under_a_key_no_longer_configured(
    session_maker: Sessions,
) -> None:
    await store_under(session_maker, OLD_KEY, 1, 3, 5)
    await store_under(session_maker, GONE_KEY, 2, 4)
    await store(session_maker, snapshot(id_dossier="PDL-NONE", nir=None), classification=HELD)
    gone_before = await stored(session_maker, "PDL-2")
    ring = f"{NEW_KEY},{OLD_KEY}"  # "gone" was dropped before its rows were rotated

    report = await rotate(session_maker, crypto(ring), DOSSIER, batch_size=1)

    assert report.rotated == 4
    assert report.unknown_keys == {"gone": LeftBehind(2, ["PDL-2", "PDL-4"])}
    assert (report.not_authentic, report.left_behind) == (LeftBehind(), 2)
    assert await key_ids(session_maker) == {
        **{f"PDL-{n}": "new" for n in (1, 3, 5)},
        **{f"PDL-{n}": "gone" for n in (2, 4)},
        "PDL-NONE": "new",
    }
    gone_after = await stored(session_maker, "PDL-2")
    assert (
        gone_after.identite_ciphertext == gone_before.identite_ciphertext
    )  # left exactly as it was
    for order in (1, 3, 5):
        assert await stored_nir(session_maker, f"PDL-{order}", crypto(NEW_KEY)) == nir(order)
    # Run again: nothing more to rotate, the same rows reported; with the key back, all done.
    again = await rotate(session_maker, crypto(ring), DOSSIER)
    assert (again.rotated, again.unknown_keys) == (0, report.unknown_keys)
    restored = await rotate(session_maker, crypto(f"{ring},{GONE_KEY}"), DOSSIER)
    assert (restored.rotated, restored.left_behind) == (2, 0)
    assert await stored_nir(session_maker, "PDL-4", crypto(NEW_KEY)) == nir(4)


async def test_rotation_skips_a_ciphertext_that_does_not_authenticate(
    session_maker: Sessions,
) -> None:
    await store_under(session_maker, OLD_KEY, 1, 2, 3)
    row_1 = await stored(session_maker, "PDL-1")
    async with session_maker() as session:  # PDL-1's ciphertext copied onto PDL-2's row
        await session.execute(
            update(Dossier)
            .where(Dossier.id_dossier == "PDL-2")
            .values(identite_ciphertext=row_1.identite_ciphertext)
        )
        await session.commit()

    report = await rotate(session_maker, crypto(f"{NEW_KEY},{OLD_KEY}"), DOSSIER, batch_size=2)

    assert (report.rotated, report.unknown_keys) == (2, {})
    assert report.not_authentic == LeftBehind(1, ["PDL-2"])
    assert await key_ids(session_maker) == {"PDL-1": "new", "PDL-2": "old", "PDL-3": "new"}


async def test_the_rotation_report_lists_the_first_ids_and_counts_all(
    session_maker: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "LISTED_IDS", 2)
    await store_under(session_maker, GONE_KEY, 1, 2, 3)
    report = await rotate(session_maker, crypto(NEW_KEY), DOSSIER)
    assert report.unknown_keys == {"gone": LeftBehind(3, ["PDL-1", "PDL-2"])}
    shown = repr(report)
    for order in (1, 2, 3):
        assert nir(order) not in shown
        assert nir(order)[:13] not in shown


async def test_versions_out_of_order_in_one_unit_of_work(session_maker: Sessions) -> None:
    async with session_maker() as session:
        outcomes = [
            await store_snapshot(session, snapshot(version=version), SENDABLE, crypto(), now=NOW)
            for version in (1, 3, 2, 4)
        ]
        await session.commit()
    assert outcomes == [
        StoreOutcome.ACCEPTE,
        StoreOutcome.ACCEPTE,
        StoreOutcome.IGNORE_VERSION_ANCIENNE,
        StoreOutcome.ACCEPTE,
    ]
    row = await stored(session_maker)
    assert (row.version, row.versions_ignorees) == (4, 1)
