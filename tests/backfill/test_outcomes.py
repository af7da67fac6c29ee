"""A compte-rendu's lines become each dossier's outcome (pure)."""

from __future__ import annotations

from agora_bridge.agora.schemas import Erreur, LigneCompteRendu
from agora_bridge.backfill.outcomes import (
    A_REPRENDRE,
    ACCEPTE,
    DOUBLON,
    REJETE,
    LineOutcome,
    decide,
    summary,
)
from agora_bridge.backfill.packing import Lot


def lot(*ids: str) -> Lot:
    return Lot(
        cle="k" * 64,
        numero=1,
        body=b"",
        dossiers=[(key, 1, 1) for key in ids],
        request_id="r",
    )


def ligne(number: int, reference: str | None, resultat: str, **fields: object) -> LigneCompteRendu:
    return LigneCompteRendu.model_validate(
        {"ligne": number, "reference_financeur": reference, "resultat": resultat, **fields}
    )


def test_each_line_outcome_becomes_the_work_item_state() -> None:
    refused = [Erreur(champ="organisme.siret", code="SIRET_INVALIDE", message="12345678901234")]
    outcomes = decide(
        lot("A", "B", "C", "D"),
        [
            ligne(1, "A", ACCEPTE, id_agora="AG000000000001"),
            ligne(2, "B", REJETE, erreurs=refused),
            ligne(3, "C", DOUBLON, id_agora="AG000000000002"),
            ligne(4, "D", REJETE, erreurs=[Erreur(champ="", code="INDISPONIBLE")]),
        ],
    )
    assert outcomes == [
        LineOutcome(0, ACCEPTE, "A_JOUR", id_agora="AG000000000001"),
        # AGORA's wording is left out: it may quote the value it refused.
        LineOutcome(
            1, REJETE, "PARQUE", code="SIRET_INVALIDE", message="organisme.siret: SIRET_INVALIDE"
        ),
        LineOutcome(2, DOUBLON, "A_FAIRE", verifier=True),
        # AGORA failed on the line and applied nothing: the engine sends it.
        LineOutcome(3, A_REPRENDRE, "A_FAIRE", code="INDISPONIBLE"),
    ]
    assert summary(outcomes) == {
        ACCEPTE: 1,
        DOUBLON: 1,
        A_REPRENDRE: 1,
        REJETE: {"SIRET_INVALIDE": 1},
    }


def test_a_line_agora_did_not_report_on_or_another_dossier_goes_to_the_engine_read_first() -> None:
    outcomes = decide(
        lot("A", "B", "C"),
        [
            ligne(1, "A", ACCEPTE),  # no id: nothing to link to
            ligne(2, "X", ACCEPTE, id_agora="AG000000000003"),  # not the line we sent
        ],
    )
    assert [(o.resultat, o.etat, o.verifier) for o in outcomes] == [
        (A_REPRENDRE, "A_FAIRE", True),
    ] * 3
