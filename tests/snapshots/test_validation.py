from __future__ import annotations

from typing import Any

import pytest

from agora_bridge.snapshots import validation as validation_module
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.reader import MAX_LINE_BYTES
from agora_bridge.snapshots.validation import (
    RULES,
    FieldError,
    Rejection,
    age_on,
    parse_line,
)
from tests.builders import NIR, TODAY, snapshot_line


def errors_of(step: str = "VALIDE", /, **changes: Any) -> set[tuple[str, str]]:
    result = parse_line(snapshot_line(step, **changes), today=TODAY)
    assert isinstance(result, Rejection), "expected a rejection"
    return {(e.champ, e.code) for e in result.erreurs}


@pytest.mark.parametrize("statut", ["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"])
def test_the_builders_snapshots_are_valid(statut: str) -> None:
    assert isinstance(parse_line(snapshot_line(statut), today=TODAY), Snapshot)


def test_unknown_fields_are_ignored() -> None:
    assert isinstance(parse_line(snapshot_line(**{"nouveau": 1}), today=TODAY), Snapshot)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"id_dossier": "PDL 1"}, ("id_dossier", "FORMAT_INVALIDE")),
        ({"id_dossier": "x" * 65}, ("id_dossier", "FORMAT_INVALIDE")),
        ({"version": 0}, ("version", "VALEUR_HORS_LIMITES")),
        ({"version": "2"}, ("version", "FORMAT_INVALIDE")),
        ({"date_maj": "2019-02-20T10:00:00"}, ("date_maj", "DATE_INVALIDE")),
        ({"stagiaire.nom_naissance": ""}, ("stagiaire.nom_naissance", "LONGUEUR_INVALIDE")),
        ({"stagiaire.prenom": "x" * 81}, ("stagiaire.prenom", "LONGUEUR_INVALIDE")),
        ({"stagiaire.prenom": "123"}, ("stagiaire.prenom", "NOM_INVALIDE")),
        ({"stagiaire.sexe": "X"}, ("stagiaire.sexe", "VALEUR_INCONNUE")),
        ({"stagiaire.niveau_entree": "9"}, ("stagiaire.niveau_entree", "VALEUR_INCONNUE")),
        ({"stagiaire.date_naissance": "1985-02-30"}, ("stagiaire.date_naissance", "DATE_INVALIDE")),
        (
            {"stagiaire.date_naissance": "2010-01-01"},
            ("stagiaire.date_naissance", "AGE_HORS_LIMITES"),
        ),
        ({"programme.categorie": "AUTRE"}, ("programme.categorie", "VALEUR_INCONNUE")),
        ({"programme.interface_agora": "oui"}, ("programme.interface_agora", "FORMAT_INVALIDE")),
        ({"programme.code": ""}, ("programme.code", "LONGUEUR_INVALIDE")),
        ({"organisme.siret": "73282932000075"}, ("organisme.siret", "SIRET_INVALIDE")),
        ({"organisme.siret": "7328293200007"}, ("organisme.siret", "SIRET_INVALIDE")),
        ({"action.formacode": "3181"}, ("action.formacode", "FORMAT_INVALIDE")),
        (
            {"action.certification": {"type": "RS", "code": "RNCP1"}},
            ("action.certification.code", "CERTIFICATION_INVALIDE"),
        ),
        (
            {"action.certification": {"type": "CERTIFINFO", "code": "CI12"}},
            ("action.certification.code", "CERTIFICATION_INVALIDE"),
        ),
        ({"session.duree_heures": "0"}, ("session.duree_heures", "VALEUR_HORS_LIMITES")),
        ({"session.duree_heures": "1.234"}, ("session.duree_heures", "FORMAT_INVALIDE")),
        ({"session.departement": "75"}, ("session.departement", "VALEUR_INCONNUE")),
        ({"session.date_fin": "2019-03-01"}, ("session.date_fin", "DATE_INCOHERENTE")),
        ({"taux_horaire_cents": -1}, ("taux_horaire_cents", "VALEUR_HORS_LIMITES")),
        ({"taux_horaire_cents": 12.5}, ("taux_horaire_cents", "FORMAT_INVALIDE")),
        ({"statut": "PARTI"}, ("statut", "VALEUR_INCONNUE")),
        ({"date_validation": "2026-11-27"}, ("date_validation", "DATE_FUTURE")),
        ({"date_entree": "2019-03-04"}, ("date_entree", "STATUT_INCOHERENT")),
    ],
)
def test_field_rules(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in errors_of(**changes)


def test_every_code_used_is_documented() -> None:
    codes = {code for _, code in errors_of(**{"stagiaire.sexe": "X", "version": None})}
    assert codes <= set(RULES)


def test_a_missing_field_is_required() -> None:
    line = snapshot_line().replace('"statut": "VALIDE", ', "")
    result = parse_line(line, today=TODAY)
    assert isinstance(result, Rejection)
    assert FieldError("statut", "CHAMP_REQUIS") in result.erreurs


@pytest.mark.parametrize(
    ("statut", "field"),
    [("ENTRE", "date_entree"), ("SORTI", "sortie"), ("SOLDE", "solde"), ("ANNULE", "annulation")],
)
def test_each_status_requires_its_step(statut: str, field: str) -> None:
    assert (field, "CHAMP_REQUIS") in errors_of(statut, **{field: None})


def test_dates_out_of_order() -> None:
    assert ("date_entree", "DATE_INCOHERENTE") in errors_of("ENTRE", date_entree="2019-03-01")
    assert ("sortie.date", "SORTIE_APRES_FIN_SESSION") in errors_of(
        "SORTI", **{"sortie.date": "2019-09-28"}
    )
    assert ("sortie.date", "DATE_INCOHERENTE") in errors_of(
        "SORTI", **{"sortie.date": "2019-03-03"}
    )
    assert ("solde.date", "DATE_INCOHERENTE") in errors_of("SOLDE", **{"solde.date": "2019-09-26"})
    assert ("annulation.date", "DATE_INCOHERENTE") in errors_of(
        "ANNULE", **{"annulation.date": "2019-02-19"}
    )


@pytest.mark.parametrize(
    ("statut", "field", "champ"),
    [
        ("ENTRE", "date_entree", "date_entree"),
        ("SORTI", "sortie.date", "sortie.date"),
        ("SOLDE", "solde.date", "solde.date"),
        ("ANNULE", "annulation.date", "annulation.date"),
    ],
)
def test_future_dates(statut: str, field: str, champ: str) -> None:
    future = {
        "session.date_debut": "2026-11-01",
        "session.date_fin": "2027-06-30",
        "date_validation": "2026-10-01",
        "stagiaire.date_naissance": "2000-01-01",
    }
    assert (champ, "DATE_FUTURE") in errors_of(statut, **future, **{field: "2026-11-27"})


def test_every_reason_is_reported_at_once() -> None:
    found = errors_of(
        **{"organisme.siret": "1", "stagiaire.sexe": "X", "session.departement": "75"}
    )
    assert {champ for champ, _ in found} == {
        "organisme.siret",
        "stagiaire.sexe",
        "session.departement",
    }


@pytest.mark.parametrize(("line", "ident"), [("{not json", None), ("[1, 2]", None), ('"x"', None)])
def test_a_line_that_is_not_a_json_object(line: str, ident: str | None) -> None:
    result = parse_line(line, today=TODAY)
    assert result == Rejection(ident, (FieldError("ligne", "JSON_INVALIDE"),))


def test_a_rejection_names_the_dossier_but_never_carries_values() -> None:
    result = parse_line(snapshot_line(**{"stagiaire.sexe": "X"}), today=TODAY)
    assert isinstance(result, Rejection)
    assert result.id_dossier == "PDL-2019-0001234"
    assert NIR not in repr(result)
    assert "Dupont" not in repr(result)


def test_an_invalid_nir_does_not_reject_the_line() -> None:
    assert isinstance(parse_line(snapshot_line(**{"stagiaire.nir": "123"}), today=TODAY), Snapshot)


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        ("1985-05-12", "2000-05-11", 14),
        ("1985-05-12", "2000-05-12", 15),
        ("2000-02-29", "2015-02-28", 14),
    ],
)
def test_age_in_whole_years(born: str, day: str, age: int) -> None:
    from datetime import date

    assert age_on(date.fromisoformat(born), date.fromisoformat(day)) == age


def test_a_sixteen_year_old_on_the_session_start_is_accepted() -> None:
    assert isinstance(
        parse_line(snapshot_line(**{"stagiaire.date_naissance": "2003-03-04"}), today=TODAY),
        Snapshot,
    )


def test_a_validation_error_never_quotes_the_input() -> None:
    import pydantic

    from tests.builders import snapshot_dict

    data = snapshot_dict(**{"stagiaire.nom_naissance": "x" * 81, "stagiaire.sexe": NIR})
    with pytest.raises(pydantic.ValidationError) as error:
        Snapshot.model_validate(data)
    assert NIR not in str(error.value)
    assert "x" * 81 not in str(error.value)


def test_every_code_is_documented() -> None:
    assert set(validation_module._PYDANTIC_CODES.values()) <= set(RULES)
    lines: list[str | bytes] = [
        snapshot_line(**{"stagiaire.prenom": "a\x01", "version": 2**63, "date_maj": 0}),
        snapshot_line(**{"session.duree_heures": "1e3", "action.intitule": ""}),
        b"x" * (MAX_LINE_BYTES + 1),
        b"\xe9",
        b"{",
    ]
    for line in lines:
        result = parse_line(line, today=TODAY)
        assert isinstance(result, Rejection)
        assert {e.code for e in result.erreurs} <= set(RULES)
