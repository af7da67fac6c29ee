"""Hypothesis strategies shared by the tests: histories of one dossier's snapshots, whose
fields fixed at creation on AGORA (session, validation date, level, SIRET) move too."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_key
from tests.builders import snapshot

SESSION_START, SESSION_END = date(2019, 3, 4), date(2019, 9, 27)
VALIDATED = date(2019, 2, 20)
NIRS = [b + nir_key(b) for b in ("1850578006084", "1850544109123")]


def days(start: date, end: date) -> st.SearchStrategy[date]:
    return st.integers(0, (end - start).days).map(lambda n: start + timedelta(days=n))


@st.composite
def fixed_fields(draw: st.DrawFn) -> dict[str, Any]:
    """What AGORA fixes at creation, moved between versions as the Région may move it."""
    start = draw(st.sampled_from([SESSION_START, SESSION_START + timedelta(days=7)]))
    end = draw(st.sampled_from([SESSION_END, SESSION_END - timedelta(days=14), date(2019, 10, 11)]))
    return {
        "session.date_debut": start.isoformat(),
        "session.date_fin": end.isoformat(),
        "session.duree_heures": draw(st.sampled_from(["840", "700"])),
        "date_validation": draw(st.sampled_from([VALIDATED, date(2019, 3, 1)])).isoformat(),
        "stagiaire.niveau_entree": draw(st.sampled_from(["V", "IV"])),
        "organisme.siret": draw(st.sampled_from(["73282932000074", "35600000049837"])),
    }


@st.composite
def versions(draw: st.DrawFn, version: int) -> Snapshot:
    step = draw(st.sampled_from(["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"]))
    fixed = draw(fixed_fields())
    start = date.fromisoformat(fixed["session.date_debut"])
    end = date.fromisoformat(fixed["session.date_fin"])
    changes: dict[str, Any] = {
        **fixed,
        "version": version,
        "stagiaire.nir": draw(st.sampled_from(NIRS)),
        "stagiaire.prenom": draw(st.sampled_from(["Jean", "Jean-Marie"])),
    }
    entered = step in ("ENTRE", "SORTI", "SOLDE") or (step == "ANNULE" and draw(st.booleans()))
    entry = draw(days(start, end))
    changes["date_entree"] = entry.isoformat() if entered else None
    exit_day = draw(days(entry, end))
    exited = step in ("SORTI", "SOLDE") or (entered and step == "ANNULE" and draw(st.booleans()))
    motif = draw(st.sampled_from(["FIN_FORMATION", "ABANDON"]))
    changes["sortie"] = {"date": exit_day.isoformat(), "motif": motif} if exited else None
    if step == "SOLDE":
        changes["solde"] = {
            "date": draw(days(exit_day, exit_day + timedelta(days=30))).isoformat(),
            "heures_realisees_centre": str(draw(st.integers(0, 90_000)) / 100),
            "heures_realisees_entreprise": draw(st.sampled_from(["0", "35.5"])),
        }
    if step == "ANNULE":
        validated = date.fromisoformat(fixed["date_validation"])
        cancelled = draw(days(validated, end))
        changes["annulation"] = {"date": cancelled.isoformat(), "motif": "DESISTEMENT"}
    return snapshot(step, **changes)


@st.composite
def histories(draw: st.DrawFn) -> list[Snapshot]:
    count = draw(st.integers(1, 6))
    return [draw(versions(version)) for version in range(1, count + 1)]
