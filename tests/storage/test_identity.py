"""The identity at rest, for snapshots at the limits of every rule (hypothesis): the payload
keeps no personal field, the snapshot comes back whole from payload and blob, and what AGORA
acknowledged comes back with the snapshot's titulaire."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

from agora_bridge.decision.planner import project
from agora_bridge.delivery.acknowledged import Acquittement, restored, row
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import normalise_nir
from agora_bridge.storage import identity
from agora_bridge.storage.models import EtatAgora
from tests.agora.test_sendable_bodies import parse
from tests.storage.builders import NOW, crypto
from tests.strategies import sendable_snapshot_dicts

CRYPTO = crypto()


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Through JSON, as a database column gives it back."""
    loaded: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return loaded


@settings(max_examples=150, deadline=None)
@given(sendable_snapshot_dicts())
def test_a_snapshot_comes_back_whole_from_its_payload_and_identity(data: dict[str, Any]) -> None:
    snapshot = parse(data)
    assert snapshot is not None
    columns = identity.snapshot_columns(snapshot, CRYPTO)
    payload = json.loads(columns["payload"])  # JSON text, as the column stores it
    assert not set(identity.PERSONAL_FIELDS) & set(payload["stagiaire"])
    assert payload == identity.split(snapshot.model_dump(mode="json"))[0]
    clear = identity.decrypt(
        snapshot.id_dossier, columns["identite_key_id"], columns["identite_ciphertext"], CRYPTO
    )
    assert snapshot.stagiaire.nir is not None
    normalised = snapshot.stagiaire.model_copy(
        update={"nir": normalise_nir(snapshot.stagiaire.nir)}
    )
    same = Snapshot.model_validate(identity.merged(payload, clear)) == snapshot.model_copy(
        update={"stagiaire": normalised}
    )
    assert same  # not printed: the snapshots hold names


@settings(max_examples=150, deadline=None)
@given(sendable_snapshot_dicts())
def test_the_acknowledged_titulaire_comes_back_for_its_snapshot(data: dict[str, Any]) -> None:
    snapshot = parse(data)
    assert snapshot is not None
    held = project(snapshot)
    values = as_stored(row(Acquittement("AG1", held), CRYPTO, now=NOW))
    etat = EtatAgora(
        id_dossier=snapshot.id_dossier,
        id_agora="AG1",
        acquitte=values["acquitte"],
        titulaire_index=values["titulaire_index"],
        acquitte_at=NOW,
    )
    same = restored(etat, project(snapshot), CRYPTO) == held
    assert same
