"""Flows 3-6: the state machine, and what a repeated transition answers."""

from __future__ import annotations

import pytest

from tests.mocks.builders import ANNULATION, ENTREE, SORTIE, STEP_BODIES, creation
from tests.mocks.harness import Agora

TARGET = {"entree": "ENTRE", "sortie": "SORTI", "solde": "SOLDE", "annulation": "ANNULE"}
# state → step → status: agora-v2.md's VALIDE → ENTRE → SORTI → SOLDE, VALIDE|ENTRE → ANNULE.
TABLE = {
    "VALIDE": {"entree": 200, "sortie": 422, "solde": 422, "annulation": 200},
    "ENTRE": {"entree": 409, "sortie": 200, "solde": 422, "annulation": 200},
    "SORTI": {"entree": 422, "sortie": 409, "solde": 200, "annulation": 422},
    "SOLDE": {"entree": 422, "sortie": 422, "solde": 409, "annulation": 422},
    "ANNULE": {"entree": 422, "sortie": 422, "solde": 422, "annulation": 409},
}
CASES = [(statut, step, status) for statut, row in TABLE.items() for step, status in row.items()]


@pytest.mark.parametrize(("statut", "step", "status"), CASES)
async def test_the_transitions_table(agora: Agora, statut: str, step: str, status: int) -> None:
    id_agora = await agora.dossier_in(statut, creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/{step}", STEP_BODIES[step])
    assert response.status_code == status, response.text
    after = (await agora.get(id_agora))["statut"]
    if status == 200:
        assert response.json() == {"statut": TARGET[step]}
        assert after == TARGET[step]
    else:
        assert after == statut
    if status == 422:
        assert response.json()["code"] == "TRANSITION_INVALIDE"


async def test_a_repeated_transition_answers_409_with_the_current_dossier(agora: Agora) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/sortie", SORTIE)
    assert response.status_code == 409
    assert response.json()["code"] == "TRANSITION_DEJA_APPLIQUEE"
    assert response.json()["dossier"] == await agora.get(id_agora)
    assert response.json()["dossier"]["sortie"] == SORTIE
    assert (await agora.stats())["transitions_deja_appliquees"] == 1


async def test_a_repeat_with_other_values_still_answers_409_and_changes_nothing(
    agora: Agora,
) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    response = await agora.call(
        "POST", f"/dossiers/{id_agora}/entree", {"date_entree": "2019-03-05"}
    )
    assert response.status_code == 409
    assert response.json()["dossier"]["entree"] == ENTREE  # the bridge sees the difference


async def test_each_applied_transition_is_in_the_historique(agora: Agora) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    await agora.call("POST", f"/dossiers/{id_agora}/annulation", ANNULATION)
    dossier = await agora.get(id_agora)
    assert [event["operation"] for event in dossier["historique"]] == [
        "CREATION",
        "ENTREE",
        "ANNULATION",
    ]
    assert [event["request_id"] for event in dossier["historique"]] == agora.request_ids[:3]
    assert dossier["annulation"] == ANNULATION
    assert dossier["statut"] == "ANNULE"


@pytest.mark.parametrize("step", TARGET)
async def test_a_transition_on_an_unknown_dossier_is_404(agora: Agora, step: str) -> None:
    response = await agora.call("POST", f"/dossiers/AG000000000042/{step}", STEP_BODIES[step])
    assert response.status_code == 404
    assert response.json()["code"] == "DOSSIER_INCONNU"


@pytest.mark.parametrize("step", TARGET)
async def test_a_malformed_transition_is_400(agora: Agora, step: str) -> None:
    id_agora = await agora.create(creation())
    body = {**STEP_BODIES[step], "inconnu": True}
    response = await agora.call("POST", f"/dossiers/{id_agora}/{step}", body)
    assert response.status_code == 400
