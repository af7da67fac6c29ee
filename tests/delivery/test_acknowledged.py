"""The acknowledged state as stored: no NIR, name or birth date in it, read back equal, with
the snapshot's titulaire only when the digest of the one AGORA holds matches it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy import text as sa_text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.backfill.building import ack
from agora_bridge.decision.dossier import Rectifier, Titulaire
from agora_bridge.decision.planner import plan, project
from agora_bridge.delivery.acknowledged import (
    Acquittement,
    decode,
    encode,
    restored,
    row,
    store_all,
)
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import EtatAgora
from tests.builders import NIR, snapshot
from tests.delivery.harness import CRYPTO
from tests.storage.builders import NOW, nir
from tests.stored_text import assert_absent

STEPS = ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")


@given(step=st.sampled_from(STEPS), prenom=st.sampled_from(("Jean", "Éloïse", "Anne-Marie")))
def test_a_dossier_reads_back_as_it_was_stored(step: str, prenom: str) -> None:
    dossier = project(snapshot(step, **{"stagiaire.prenom": prenom}))
    stored = encode(dossier)
    assert decode(json.loads(json.dumps(stored)), dossier.titulaire) == dossier


def test_the_stored_state_holds_no_nir_name_or_birth_date() -> None:
    dossier = project(snapshot("ENTRE"))
    values = row(Acquittement("AG000000000001", dossier), CRYPTO, now=NOW)
    text = json.dumps(values, default=str).encode()
    assert "titulaire" not in values["acquitte"]
    personal = [NIR, nir_for_agora(NIR), "DUPONT", "Dupont", "JEAN", "Jean", "1985-05-12"]
    assert_absent(text, personal)


def etat(values: dict[str, Any]) -> EtatAgora:
    return EtatAgora(
        id_dossier="PDL-TEST-1",
        id_agora=values["id_agora"],
        acquitte=json.loads(json.dumps(values["acquitte"])),
        titulaire_index=values["titulaire_index"],
        acquitte_at=NOW,
    )


# One field of the titulaire AGORA holds differs from the snapshot's.
CHANGES: list[dict[str, Any]] = [
    {"nir": nir_for_agora(nir(7))},
    {"nom_naissance": "DUPOND"},
    {"prenom": "JEANNE"},
    {"date_naissance": date(1985, 5, 13)},
    {"sexe": "F"},
]


def test_the_snapshots_titulaire_is_put_back_when_agora_holds_it() -> None:
    ours = snapshot("ENTRE")
    held = project(ours)
    acknowledged = restored(etat(row(Acquittement("AG1", held), CRYPTO, now=NOW)), held, CRYPTO)
    assert acknowledged == held
    assert plan(acknowledged, ours).operations == ()


@given(change=st.sampled_from(CHANGES))
def test_another_titulaire_on_agora_is_rectified(change: dict[str, Any]) -> None:
    ours = snapshot("ENTRE")
    theirs = replace(project(ours), titulaire=replace(project(ours).titulaire, **change))
    values = row(Acquittement("AG1", theirs), CRYPTO, now=NOW)
    acknowledged = restored(etat(values), project(ours), CRYPTO)
    assert acknowledged.titulaire != project(ours).titulaire
    assert isinstance(acknowledged.titulaire, Titulaire)
    assert plan(acknowledged, ours).operations == (Rectifier(titulaire=project(ours).titulaire),)


def test_without_a_sendable_snapshot_the_titulaire_is_one_that_matches_nothing() -> None:
    held = project(snapshot("ENTRE"))
    acknowledged = restored(etat(row(Acquittement("AG1", held), CRYPTO, now=NOW)), None, CRYPTO)
    assert acknowledged == replace(held, titulaire=acknowledged.titulaire)
    assert acknowledged.titulaire.nir == "0" * 13


# Text to escape or beyond ASCII in the stored part; the optional parts null.
ODD = {
    "programme.dispositif": 'VISA "MÉTIERS" \\ é€𝄞 </>',
    "action.numero": "n° 1 \u2028 ½",
    "session.numero": "'\"",
    "action.formacode": None,
    "action.certification": None,
}


@pytest.mark.parametrize("step", ["ANNULE", "SOLDE"])
async def test_a_state_stored_as_a_dict_or_as_its_text_is_the_same_json(
    session_maker: async_sessionmaker[AsyncSession], step: str
) -> None:
    """The sync path stores `row()`'s dict, a backfill its line's text (`building.ack`): the
    same JSON text on either database, reading back as `encode`."""
    dossier = project(snapshot(step, **ODD))
    values = row(Acquittement("AG000000000001", dossier), CRYPTO, now=NOW)
    text = {**values, "id_agora": "AG000000000002", "acquitte": ack(dossier, CRYPTO).acquitte}
    async with session_maker() as session, session.begin():
        await store_all(
            on_session(session), [{"id_dossier": "A", **values}, {"id_dossier": "B", **text}]
        )
    async with session_maker() as session:
        stored = {e.id_dossier: e.acquitte for e in await session.scalars(select(EtatAgora))}
        raw: dict[str, str] = dict(iter(await session.execute(sa_text(_RAW))))
    assert stored == {"A": encode(dossier), "B": encode(dossier)}
    assert raw["A"] == raw["B"]
    assert json.loads(raw["A"]) == encode(dossier)


_RAW = "SELECT id_dossier, CAST(acquitte AS TEXT) FROM etat_agora"
