"""Flow 7: PATCH, the fields each state allows, and the dates re-checked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mocks.builders import SORTIE, creation
from tests.mocks.harness import Agora

TITULAIRE = {**creation()["titulaire"], "nom_naissance": "DURAND", "prenom": "JEAN-PIERRE"}
ALLOWED = {
    "titulaire": {"VALIDE", "ENTRE", "SORTI"},
    "date_entree": {"ENTRE", "SORTI"},
    "date_sortie": {"SORTI"},
    "motif_sortie": {"SORTI"},
}
VALUES: dict[str, Any] = {
    "titulaire": TITULAIRE,
    "date_entree": "2019-03-05",
    "date_sortie": "2019-09-20",
    "motif_sortie": "ABANDON",
}
CASES = [
    (field, statut)
    for field in ALLOWED
    for statut in ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")
]


@pytest.mark.parametrize(("field", "statut"), CASES)
async def test_each_field_in_each_state(agora: Agora, field: str, statut: str) -> None:
    id_agora = await agora.dossier_in(statut, creation())
    response = await agora.call("PATCH", f"/dossiers/{id_agora}", {field: VALUES[field]})
    if statut in ALLOWED[field]:
        assert response.status_code == 200, response.text
        assert response.json() == await agora.get(id_agora)
    elif statut == "SOLDE":
        assert response.status_code == 422
        assert response.json()["code"] == "DOSSIER_SOLDE"
    else:
        assert response.status_code == 422
        assert response.json()["code"] == "TRANSITION_INVALIDE"


async def test_a_rectification_changes_the_dossier_and_is_recorded(agora: Agora) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    body = {"titulaire": TITULAIRE, "date_entree": "2019-03-05", "motif_sortie": "ABANDON"}
    dossier = (await agora.call("PATCH", f"/dossiers/{id_agora}", body)).json()
    assert dossier["titulaire"] == TITULAIRE
    assert dossier["entree"] == {"date_entree": "2019-03-05"}
    assert dossier["sortie"] == {**SORTIE, "motif_sortie": "ABANDON"}
    assert dossier["statut"] == "SORTI"
    assert dossier["historique"][-1]["operation"] == "RECTIFICATION"
    assert dossier["historique"][-1]["champs"] == ["date_entree", "motif_sortie", "titulaire"]


async def test_a_new_nir_is_found_by_the_search(agora: Agora) -> None:
    id_agora = await agora.create(creation())
    titulaire = {**TITULAIRE, "nir": "1850578006085"}
    await agora.call("PATCH", f"/dossiers/{id_agora}", {"titulaire": titulaire})
    search = {"nir": "1850578006085", "numero_session": "1330305"}
    found = (await agora.call("POST", "/dossiers/recherche", search)).json()["resultats"]
    assert [result["id_agora"] for result in found] == [id_agora]
    search["nir"] = creation()["titulaire"]["nir"]
    assert (await agora.call("POST", "/dossiers/recherche", search)).json()["resultats"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"date_entree": "2019-09-28"}, "DATE_INCOHERENTE"),  # after the session
        ({"date_entree": "2019-09-28", "date_sortie": "2019-09-27"}, "DATE_INCOHERENTE"),
        ({"date_sortie": "2019-03-03"}, "DATE_INCOHERENTE"),  # before the entry
        ({"date_sortie": "2019-09-28"}, "SORTIE_APRES_FIN_SESSION"),
        ({"date_sortie": "2027-01-01"}, "DATE_FUTURE"),
        ({"titulaire": {**TITULAIRE, "sexe": "F"}}, "NIR_INVALIDE"),
    ],
)
async def test_the_dates_and_the_nir_are_rechecked(
    agora: Agora, body: dict[str, Any], code: str
) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    before = await agora.get(id_agora)
    response = await agora.call("PATCH", f"/dossiers/{id_agora}", body)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert await agora.get(id_agora) == before


async def test_a_moved_entry_must_still_precede_the_exit(agora: Agora) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    await agora.call("PATCH", f"/dossiers/{id_agora}", {"date_sortie": "2019-04-01"})
    response = await agora.call("PATCH", f"/dossiers/{id_agora}", {"date_entree": "2019-04-02"})
    assert response.json()["code"] == "DATE_INCOHERENTE"


@pytest.mark.parametrize("body", [{}, {"date_entree": None}, {"statut": "ENTRE"}])
async def test_an_empty_or_malformed_rectification_is_400(
    agora: Agora, body: dict[str, Any]
) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    response = await agora.call("PATCH", f"/dossiers/{id_agora}", body)
    assert response.status_code == 400


async def test_a_rectification_of_an_unknown_dossier_is_404(agora: Agora) -> None:
    response = await agora.call("PATCH", "/dossiers/AG000000000042", {"date_entree": "2019-03-05"})
    assert response.status_code == 404
