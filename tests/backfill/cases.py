"""A snapshot file with every kind of case the backfill meets (issue 8's list)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from agora_bridge.snapshots.nir import nir_key
from agora_bridge.synthetic import write_file
from tests.backfill.harness import dossier, write_lines
from tests.builders import TODAY


def nir(body: str) -> str:
    return body + nir_key(body)


BEFORE_CUTOFF = {
    "session.date_debut": "2016-03-04",
    "session.date_fin": "2016-09-27",
    "date_validation": "2016-02-20",
    "date_entree": "2016-03-04",
    "sortie.date": "2016-09-27",
    "solde.date": "2016-10-10",
}


def special_cases() -> list[dict[str, Any]]:
    return [
        # Corsican birth place (2A) and a waiting number (NIA, first digit 7).
        dossier("SOLDE", "PDL-CORSE", **{"stagiaire.nir": nir("185052A001123")}),
        dossier("ENTRE", "PDL-NIA", **{"stagiaire.nir": nir("7850599123456")}),
        # 800.5 h x 12.55 € = 10,046.275 €: half-up to the cent.
        dossier(
            "SOLDE",
            "PDL-ARRONDI",
            taux_horaire_cents=1255,
            **{"solde.heures_realisees_centre": "800.5"},
        ),
        # Every final state, cancellations from VALIDE and from ENTRE.
        dossier("VALIDE", "PDL-VALIDE"),
        dossier("SORTI", "PDL-SORTI"),
        dossier("ANNULE", "PDL-ANNULE"),
        dossier(
            "ANNULE",
            "PDL-ANNULE-ENTRE",
            date_entree="2019-03-04",
            **{"annulation.date": "2019-03-10"},
        ),
        # Versions out of order: the highest is the final state; a tie keeps the first.
        dossier("VALIDE", "PDL-VERSIONS", version=1),
        dossier("SORTI", "PDL-VERSIONS", version=3),
        dossier("ENTRE", "PDL-VERSIONS", version=2),
        dossier("ENTRE", "PDL-EGALITE", version=2),
        dossier("SORTI", "PDL-EGALITE", version=2),
        # Out of the reprise: before the cut-off, an excluded category, the attribute false.
        dossier("SOLDE", "PDL-2016", **BEFORE_CUTOFF),
        dossier("VALIDE", "PDL-VAE", **{"programme.categorie": "VAE"}),
        dossier("VALIDE", "PDL-HORS-AGORA", **{"programme.interface_agora": False}),
        # Held: no NIR, a NIR with a wrong key; the planner holds a cancellation after exit.
        dossier("VALIDE", "PDL-SANS-NIR", **{"stagiaire.nir": None}),
        dossier("VALIDE", "PDL-NIR-FAUX", **{"stagiaire.nir": "185057800608499"}),
        dossier(
            "ANNULE",
            "PDL-ANNULE-SORTI",
            date_entree="2019-03-04",
            sortie={"date": "2019-03-08", "motif": "ABANDON"},
            **{"annulation.date": "2019-03-10"},
        ),
        # Invalid: a SIRET failing Luhn.
        dossier("VALIDE", "PDL-SIRET", **{"organisme.siret": "73282932000075"}),
    ]


def every_case_file(
    directory: Path, *, dossiers: int = 1500, seed: int = 5, today: date = TODAY
) -> Path:
    """`today`: no generated date after it."""
    path = directory / "reprise.jsonl"
    write_file(path, dossiers, seed=seed, today=today)
    return write_lines(path, special_cases(), tail=["not JSON at all", '{"id_dossier": 3}'])
