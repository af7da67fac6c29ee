"""The acknowledged state as stored: no NIR in it, read back equal, with the snapshot's NIR
only when the blind indexes match."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.decision.planner import project
from agora_bridge.delivery.acknowledged import Acquittement, decode, encode, row
from agora_bridge.snapshots.nir import nir_for_agora
from tests.builders import NIR, snapshot
from tests.delivery.harness import CRYPTO
from tests.storage.builders import NOW

STEPS = ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")


@given(step=st.sampled_from(STEPS), prenom=st.sampled_from(("Jean", "Éloïse", "Anne-Marie")))
def test_a_dossier_reads_back_as_it_was_stored(step: str, prenom: str) -> None:
    dossier = project(snapshot(step, **{"stagiaire.prenom": prenom}))
    stored = encode(dossier)
    assert decode(json.loads(json.dumps(stored)), dossier.titulaire.nir) == dossier


def test_the_stored_state_holds_no_nir_but_its_index() -> None:
    dossier = project(snapshot("ENTRE"))
    values = row(Acquittement("AG000000000001", dossier), CRYPTO, now=NOW)
    text = json.dumps(values, default=str)
    assert nir_for_agora(NIR) not in text
    assert NIR not in text
    assert values["nir_index"] == CRYPTO.blind_index(nir_for_agora(NIR))
