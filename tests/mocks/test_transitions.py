"""Flows 3-6: the state machine, and what a repeated transition answers."""

from __future__ import annotations

import pytest

from agora_bridge.snapshots.settlement import COUT_MAX_CENTS, HEURES_MAX, TAUX_HORAIRE_MAX_CENTS
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


def solde(centre: str, rate: int, cost: int, entreprise: str = "0") -> dict[str, object]:
    """A settlement of a dossier of 840 hours (at least 840 done: 100 %)."""
    return {
        **STEP_BODIES["solde"],
        "heures_realisees_centre": centre,
        "heures_realisees_entreprise": entreprise,
        "taux_horaire_cents": rate,
        "cout_pedagogique_cents": cost,
    }


@pytest.mark.parametrize(
    ("body", "champs"),
    [
        (  # a 500 before issue 6: the cost overflowed the 28-digit decimal context
            solde("9999.99", 10**28, 99999900 * 10**24),
            ["taux_horaire_cents", "cout_pedagogique_cents"],
        ),
        (
            solde("840", TAUX_HORAIRE_MAX_CENTS + 1, 840 * (TAUX_HORAIRE_MAX_CENTS + 1)),
            ["taux_horaire_cents"],
        ),
        (solde("840", 1250, COUT_MAX_CENTS + 1), ["cout_pedagogique_cents"]),
        (solde("10000", 1, 10000), ["heures_realisees_centre"]),
        (solde("840", 1250, 1_050_000, entreprise="10000"), ["heures_realisees_entreprise"]),
    ],
)
async def test_amounts_above_the_documented_maximum_are_400(
    agora: Agora, body: dict[str, object], champs: list[str]
) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/solde", body)
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"
    assert [erreur["champ"] for erreur in response.json()["erreurs"]] == champs
    assert (await agora.get(id_agora))["statut"] == "SORTI"


async def test_the_documented_maximum_itself_is_settled(agora: Agora) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    body = solde(str(HEURES_MAX), TAUX_HORAIRE_MAX_CENTS, COUT_MAX_CENTS, entreprise="9999.99")
    response = await agora.call("POST", f"/dossiers/{id_agora}/solde", body)
    assert response.status_code == 200, response.text
    assert (await agora.get(id_agora))["solde"]["cout_pedagogique_cents"] == COUT_MAX_CENTS
