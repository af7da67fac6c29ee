"""AGORA's wire bodies: exact field names, hours as strings, strict requests, tolerant answers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agora_bridge.agora.schemas import (
    Creation,
    Dossier,
    Entree,
    LigneLot,
    Lot,
    Recherche,
    Rectification,
    Session,
    Solde,
    Sortie,
    Titulaire,
    from_agora,
)
from agora_bridge.snapshots.settlement import COUT_MAX_CENTS, HEURES_MAX, TAUX_HORAIRE_MAX_CENTS
from tests.agora.wire_builders import NIR, creation, dossier_json, ligne_lot, solde, titulaire
from tests.mocks.builders import creation as spec_example


def wire(model: Creation | LigneLot | Solde | Rectification | Recherche) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(model.model_dump_json())
    return result


def test_creation_body_has_the_spec_fields_and_shapes() -> None:
    body = wire(creation())

    assert body == spec_example()


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (Decimal("812.5"), "812.5"),
        (Decimal("812.50"), "812.5"),
        (Decimal("840.00"), "840"),
        (Decimal("0"), "0"),
        (Decimal("0.25"), "0.25"),
        (Decimal("1E+2"), "100"),
        ("812.5", "812.5"),
    ],
)
def test_hours_travel_as_plain_decimal_strings(hours: Decimal | str, text: str) -> None:
    body = wire(Solde(**{**dict(solde()), "heures_realisees_centre": hours}))

    assert body["heures_realisees_centre"] == text
    assert isinstance(body["heures_realisees_entreprise"], str)


def test_hours_keep_two_decimals_at_most() -> None:
    with pytest.raises(ValidationError):
        Solde(**{**dict(solde()), "heures_realisees_centre": Decimal("1.125")})


@pytest.mark.parametrize(
    ("field", "largest"),
    [
        ("heures_realisees_centre", HEURES_MAX),
        ("taux_horaire_cents", TAUX_HORAIRE_MAX_CENTS),
        ("cout_pedagogique_cents", COUT_MAX_CENTS),
    ],
)
def test_amounts_stop_at_the_contracts_maxima(field: str, largest: Decimal | int) -> None:
    Solde(**{**dict(solde()), field: largest})
    step = Decimal("0.01") if isinstance(largest, Decimal) else 1
    with pytest.raises(ValidationError):
        Solde(**{**dict(solde()), field: largest + step})


def test_session_hours_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Session(numero="1", date_debut=date(2019, 1, 1), date_fin=date(2019, 2, 1), duree_heures=0)


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (Entree, {"date_entree": date(2019, 3, 4)}),
        (Sortie, {"date_sortie": date(2019, 3, 4), "motif_sortie": "ABANDON"}),
        (Titulaire, dict(titulaire())),
        (Creation, dict(creation())),
    ],
)
def test_request_models_refuse_unknown_fields(
    model: type[BaseModel], values: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="extra_forbidden"):
        model.model_validate({**values, "inconnu": "x"})


def test_nested_request_parts_refuse_unknown_fields_too() -> None:
    body = creation().model_dump()
    body["titulaire"]["date_naisance"] = "1985-05-12"  # a typo must not pass silently

    with pytest.raises(ValidationError, match="extra_forbidden"):
        Creation.model_validate(body)


def test_malformed_values_fail_before_sending() -> None:
    with pytest.raises(ValidationError):
        Titulaire(**{**dict(titulaire()), "nom_naissance": "Dupont"})  # not normalised
    with pytest.raises(ValidationError):
        Creation(**{**dict(creation()), "niveau_entree": "V"})  # the old nomenclature


def test_rectification_sends_only_the_fields_given() -> None:
    assert wire(Rectification(date_entree=date(2019, 3, 5))) == {"date_entree": "2019-03-05"}
    assert wire(Rectification(date_sortie=date(2019, 9, 1), motif_sortie="ABANDON")) == {
        "date_sortie": "2019-09-01",
        "motif_sortie": "ABANDON",
    }


def test_an_empty_rectification_is_refused() -> None:
    with pytest.raises(ValidationError):
        Rectification()


def test_search_has_two_forms_only() -> None:
    assert wire(Recherche(reference_financeur="PDL-1")) == {"reference_financeur": "PDL-1"}
    assert wire(Recherche(nir=NIR, numero_session="1330305")) == {
        "nir": NIR,
        "numero_session": "1330305",
    }
    for wrong in ({}, {"nir": NIR}, {"reference_financeur": "PDL-1", "nir": NIR}):
        with pytest.raises(ValidationError):
            Recherche(**wrong)


def test_lot_line_leaves_out_the_stages_not_reached() -> None:
    line = wire(LigneLot(**dict(creation()), entree=Entree(date_entree=date(2019, 3, 4))))

    assert line["entree"] == {"date_entree": "2019-03-04"}
    assert {"sortie", "solde", "annulation"}.isdisjoint(line)
    assert wire(ligne_lot())["solde"]["heures_realisees_centre"] == "812.5"


def test_personal_data_stays_out_of_reprs() -> None:
    text = repr(ligne_lot()) + repr(Recherche(nir=NIR, numero_session="1"))

    assert NIR not in text
    assert "DUPONT" not in text
    assert "1985" not in text


def test_answers_ignore_fields_agora_adds_at_any_depth() -> None:
    body = dossier_json(nouveau="x")
    body["titulaire"] = {**body["titulaire"], "nom_usage": "MARTIN"}
    body["historique"][0]["auteur"] = "CDC"

    dossier = from_agora(Dossier, json.dumps(body))

    assert dossier.id_agora == "AG000000000042"
    assert dossier.titulaire.nir == NIR
    assert dossier.entree == Entree(date_entree=date(2019, 3, 4))
    assert dossier.sortie is None
    assert dossier.historique[0].operation == "CREATION"


def test_a_received_lot_has_no_counts_yet() -> None:
    lot = from_agora(Lot, b'{"id_lot": "LT000000000007", "statut": "RECU", "nb_lignes": 3}')

    assert (lot.statut, lot.nb_lignes, lot.nb_acceptees) == ("RECU", 3, None)
