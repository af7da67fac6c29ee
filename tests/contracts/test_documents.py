"""The contract files themselves: valid, complete against agora-v2.md, consistent together."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from agora_bridge.snapshots.settlement import COUT_MAX_CENTS, HEURES_MAX, TAUX_HORAIRE_MAX_CENTS
from tests.contracts.validate import (
    COMPTE_RENDU_LINE_FILE,
    LOT_LINE_FILE,
    ContractViolation,
    load,
    openapi,
    validate_component,
    validate_compte_rendu_line,
    validate_lot_line,
    validate_request_body,
)
from tests.mocks.builders import (
    ANNULATION,
    ENTREE,
    SOLDE,
    SORTIE,
    changed,
    creation,
    ligne,
    problem,
)

B = "/agora/v2"
# Every call of agora-v2.md with the statuses it documents (beyond 401/429/503/5XX): 400 for
# every call (a malformed X-Request-Id), 415 for every body in another media type.
OPERATIONS = {
    ("post", f"{B}/oauth/token"): {"200", "400", "415"},
    ("post", f"{B}/dossiers/recherche"): {"200", "400", "415"},
    ("post", f"{B}/dossiers"): {"201", "400", "409", "415", "422"},
    ("get", f"{B}/dossiers/{{id_agora}}"): {"200", "400", "404"},
    ("patch", f"{B}/dossiers/{{id_agora}}"): {"200", "400", "404", "415", "422"},
    ("post", f"{B}/dossiers/{{id_agora}}/entree"): {"200", "400", "404", "409", "415", "422"},
    ("post", f"{B}/dossiers/{{id_agora}}/sortie"): {"200", "400", "404", "409", "415", "422"},
    ("post", f"{B}/dossiers/{{id_agora}}/solde"): {"200", "400", "404", "409", "415", "422"},
    ("post", f"{B}/dossiers/{{id_agora}}/annulation"): {"200", "400", "404", "409", "415", "422"},
    ("post", f"{B}/lots"): {"202", "400", "413", "415", "422"},
    ("get", f"{B}/lots/{{id_lot}}"): {"200", "400", "404"},
    ("get", f"{B}/lots/{{id_lot}}/compte-rendu"): {"200", "400", "404", "409"},
}
CODES_BY_STATUS = {
    "ProblemeFormatInvalide": ({400}, {"FORMAT_INVALIDE"}),
    "ProblemeJetonInvalide": ({401}, {"JETON_INVALIDE"}),
    "ProblemeDossierInconnu": ({404}, {"DOSSIER_INCONNU"}),
    "ProblemeLotInconnu": ({404}, {"LOT_INCONNU"}),
    "ProblemeDossierExistant": ({409}, {"DOSSIER_EXISTANT"}),
    "ProblemeTransitionDejaAppliquee": ({409}, {"TRANSITION_DEJA_APPLIQUEE"}),
    "ProblemeLotNonTraite": ({409}, {"LOT_NON_TRAITE"}),
    "ProblemeLotTropVolumineux": ({413}, {"LOT_TROP_VOLUMINEUX"}),
    "ProblemeMetier": (
        {422},
        {
            "NIR_INVALIDE",
            "SIRET_INVALIDE",
            "DATE_INCOHERENTE",
            "SORTIE_APRES_FIN_SESSION",
            "DATE_FUTURE",
            "COUT_INCOHERENT",
            "TRANSITION_INVALIDE",
            "DOSSIER_SOLDE",
            "CLE_IDEMPOTENCE_REUTILISEE",
        },
    ),
    "ProblemeMediaTypeNonSupporte": ({415}, {"MEDIA_TYPE_NON_SUPPORTE"}),
    "ProblemeQuota": ({429}, {"QUOTA_DEPASSE"}),
    "ProblemeIndisponible": ({500, 502, 503, 504}, {"INDISPONIBLE"}),
}


def _as_defs(node: Any) -> Any:
    """A component schema with its references rewritten as a standalone file writes them."""
    if isinstance(node, dict):
        return {
            key: value.replace("#/components/schemas/", "#/$defs/")
            if key == "$ref"
            else _as_defs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_as_defs(value) for value in node]
    return node


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    assert openapi()["openapi"].startswith("3.1")
    validate(openapi())


@pytest.mark.parametrize("path", [LOT_LINE_FILE, COMPTE_RENDU_LINE_FILE])
def test_the_line_schemas_are_valid_json_schema_2020_12(path: Any) -> None:
    schema = load(path)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_file_says_it_is_a_model_pending_the_cdc_specification() -> None:
    headers = [
        openapi()["info"]["description"],
        load(LOT_LINE_FILE)["$comment"],
        load(COMPTE_RENDU_LINE_FILE)["$comment"],
    ]
    for header in headers:
        assert "agora_bridge's model" in header
        assert "pending the Caisse des Dépôts' official specification" in header


def test_every_call_of_the_spec_is_documented_with_its_statuses() -> None:
    paths = openapi()["paths"]
    documented = {
        (method, path) for path, item in paths.items() for method in item if method != "parameters"
    }
    assert documented == set(OPERATIONS)
    for (method, path), statuses in OPERATIONS.items():
        responses = set(paths[path][method]["responses"])
        assert statuses | {"401", "429", "503", "5XX"} == responses, (method, path)


def test_creation_and_lots_require_an_idempotency_key() -> None:
    for path in (f"{B}/dossiers", f"{B}/lots"):
        parameters = openapi()["paths"][path]["post"]["parameters"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in parameters
    assert openapi()["components"]["parameters"]["IdempotencyKey"]["required"] is True


@pytest.mark.parametrize(("schema", "expected"), CODES_BY_STATUS.items())
def test_each_problem_schema_pins_its_statuses_and_codes(
    schema: str, expected: tuple[set[int], set[str]]
) -> None:
    statuses, codes = expected
    narrowing = openapi()["components"]["schemas"][schema]["allOf"][1]["properties"]
    assert set(narrowing["status"]["enum"]) == statuses
    assert set(narrowing["code"]["enum"]) == codes


def test_the_amounts_have_the_documented_maxima_of_the_settlement_rules() -> None:
    schemas = openapi()["components"]["schemas"]
    assert schemas["TauxHoraireCents"]["maximum"] == TAUX_HORAIRE_MAX_CENTS
    assert schemas["CoutCents"]["maximum"] == COUT_MAX_CENTS
    validate_component("Heures", str(HEURES_MAX))
    with pytest.raises(ContractViolation):
        validate_component("Heures", str(HEURES_MAX + Decimal("0.01")))
    solde = schemas["Solde"]["properties"]
    assert solde["taux_horaire_cents"] == {"$ref": "#/components/schemas/TauxHoraireCents"}
    assert solde["cout_pedagogique_cents"] == {"$ref": "#/components/schemas/CoutCents"}


def test_conflicts_carry_what_the_bridge_needs() -> None:
    validate_component(
        "ProblemeDossierExistant", problem("DOSSIER_EXISTANT", 409, id_agora="AG000000000001")
    )
    with pytest.raises(ContractViolation, match="id_agora"):
        validate_component("ProblemeDossierExistant", problem("DOSSIER_EXISTANT", 409))
    with pytest.raises(ContractViolation, match="dossier"):
        validate_component(
            "ProblemeTransitionDejaAppliquee", problem("TRANSITION_DEJA_APPLIQUEE", 409)
        )
    with pytest.raises(ContractViolation, match="code"):
        validate_component("ProblemeMetier", problem("DOSSIER_EXISTANT", 422))


def test_the_lot_line_file_is_the_openapi_lot_line_with_its_definitions() -> None:
    schemas = openapi()["components"]["schemas"]
    for path, root in ((LOT_LINE_FILE, "LigneLot"), (COMPTE_RENDU_LINE_FILE, "LigneCompteRendu")):
        standalone = load(path)
        expected = _as_defs(schemas[root])
        for keyword, value in expected.items():
            if keyword != "description":
                assert standalone[keyword] == value, (path.name, keyword)
        for name, definition in standalone["$defs"].items():
            assert definition == _as_defs(schemas[name]), (path.name, name)


def test_a_lot_line_is_a_creation_plus_the_steps() -> None:
    schemas = openapi()["components"]["schemas"]
    line, creation_schema = load(LOT_LINE_FILE), schemas["Creation"]
    assert line["required"] == creation_schema["required"]
    steps = {"entree": "Entree", "sortie": "Sortie", "solde": "Solde", "annulation": "Annulation"}
    assert set(line["properties"]) == set(creation_schema["properties"]) | set(steps)
    for step, name in steps.items():
        assert line["properties"][step] == {"$ref": f"#/$defs/{name}"}
        assert line["$defs"][name] == _as_defs(schemas[name])
    assert line["additionalProperties"] is False


def test_the_spec_example_bodies_are_valid() -> None:
    validate_request_body("POST", f"{B}/dossiers", creation())
    validate_request_body("POST", f"{B}/dossiers/AG000000000001/entree", ENTREE)
    validate_request_body("POST", f"{B}/dossiers/AG000000000001/sortie", SORTIE)
    validate_request_body("POST", f"{B}/dossiers/AG000000000001/solde", SOLDE)
    validate_request_body("POST", f"{B}/dossiers/AG000000000001/annulation", ANNULATION)
    validate_request_body("POST", f"{B}/lots", ligne("R-1", "SOLDE"))
    for statut in ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"):
        validate_lot_line(ligne("R-1", statut))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("titulaire.nir", "185057800608412"),  # 15 characters: the key is not sent
        ("organisme.siret", "7328293200007"),
        ("date_validation", "2019-02-30"),
        ("date_validation", "20190220"),
        ("session.duree_heures", "840.125"),
        ("session.duree_heures", "0.00"),
        ("session.duree_heures", 840),
        ("niveau_entree", "V"),
        ("titulaire.nom_naissance", "Dupont"),
        ("reference_financeur", ""),
        ("action.certification", {"type": "RS", "code": "RNCP35000"}),
        ("inconnu", 1),
    ],
)
def test_the_contract_refuses_malformed_bodies(path: str, value: Any) -> None:
    with pytest.raises(ContractViolation):
        validate_component("Creation", changed(creation(), path, value))


def test_a_lot_line_must_give_a_reachable_state() -> None:
    with pytest.raises(ContractViolation, match="entree"):
        validate_lot_line({**creation(), "sortie": SORTIE})
    with pytest.raises(ContractViolation):
        validate_lot_line({**ligne("R", "SORTI"), "annulation": ANNULATION})


def test_a_compte_rendu_line_ties_its_result_to_id_agora_and_erreurs() -> None:
    accepted = {
        "ligne": 1,
        "reference_financeur": "R",
        "resultat": "ACCEPTE",
        "id_agora": "AG000000000001",
        "erreurs": [],
    }
    validate_compte_rendu_line(accepted)
    with pytest.raises(ContractViolation):
        validate_compte_rendu_line({**accepted, "id_agora": None})
    rejected = {**accepted, "resultat": "REJETE", "id_agora": None}
    with pytest.raises(ContractViolation):
        validate_compte_rendu_line(rejected)  # a rejection says why
    erreur = {"champ": "titulaire.nir", "code": "NIR_INVALIDE", "message": "..."}
    validate_compte_rendu_line({**rejected, "erreurs": [erreur]})
