"""The one word the status route shows first, from the snapshot's classification and its work
item's state: every combination."""

from __future__ import annotations

import pytest

from agora_bridge.storage.suivi import Situation, situation


@pytest.mark.parametrize(
    ("classement", "etat", "expected"),
    [
        ("ENVOYABLE", "A_JOUR", Situation.A_JOUR),
        ("ENVOYABLE", "A_FAIRE", Situation.EN_ATTENTE),
        ("ENVOYABLE", "PARQUE", Situation.PARQUE),
        ("ENVOYABLE", "RETENU", Situation.RETENU),  # the engine holds it (RETOUR_ARRIERE…)
        ("ENVOYABLE", None, Situation.EN_ATTENTE),
        ("RETENU", "A_FAIRE", Situation.RETENU),  # held at ingest, before the engine saw it
        ("RETENU", "RETENU", Situation.RETENU),
        ("EXCLU", None, Situation.EXCLU),  # never queued: AGORA never saw it
        ("EXCLU", "A_JOUR", Situation.EXCLU),  # closed by the engine, AGORA never saw it
        ("EXCLU", "A_FAIRE", Situation.EN_ATTENTE),  # AGORA may know it: the engine decides
        ("EXCLU", "RETENU", Situation.RETENU),  # AGORA knows it: held with the reason
    ],
)
def test_situation(classement: str, etat: str | None, expected: Situation) -> None:
    assert situation(classement, etat) is expected
