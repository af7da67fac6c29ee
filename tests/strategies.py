"""Hypothesis strategies shared by the tests: histories of one dossier's snapshots, whose
fields fixed at creation on AGORA (session, validation date, level, SIRET) move too, and
sendable snapshots pushed to the limits of every field."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, get_args

from hypothesis import strategies as st

from agora_bridge.snapshots.model import VERSION_MAX, NiveauEntree, Snapshot
from agora_bridge.snapshots.nir import nir_key
from agora_bridge.snapshots.settlement import HEURES_MAX, TAUX_HORAIRE_MAX_CENTS
from agora_bridge.synthetic import valid_nir, valid_siret
from tests.builders import TODAY, snapshot, snapshot_dict

HEURES_MAX_CENTS = int(HEURES_MAX * 100)

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


# ---- Sendable snapshots at the limits of every field (issue 6, finding 3) -------------------

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f"]
TEXT_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters=CONTROL_CHARACTERS)
_LETTERS = st.sampled_from(["a", "Z", "é", "Œ", "ß", "Æ", "ﬁ"])
_EARLIEST = date(1950, 1, 1)
_LAST_DAY = date(9999, 12, 31)
_TIMESTAMPS = ["2019-02-20T10:00:00+01:00", "2019-02-20 10:00Z", "2026-11-26T23:59:59.999-12:00"]
_LA_POSTE = ["35600000000048", "35600000049837"]  # head office (Luhn), an establishment (sum)


def texts(shortest: int, longest: int) -> st.SearchStrategy[str]:
    """Any text without a control character, often of the longest length allowed."""
    return st.text(TEXT_CHARACTERS, min_size=longest, max_size=longest) | st.text(
        TEXT_CHARACTERS, min_size=shortest, max_size=longest
    )


def names() -> st.SearchStrategy[str]:
    """Up to 80 characters, with at least one letter AGORA keeps."""
    return st.builds(lambda first, rest: (first + rest)[:80], _LETTERS, texts(0, 79))


def hours(cents: st.SearchStrategy[int]) -> st.SearchStrategy[str | float | int]:
    """Every way the spec allows hours to be written: text, JSON number, integer."""

    def spellings(n: int) -> st.SearchStrategy[str | float | int]:
        exact = Decimal(n).scaleb(-2)
        forms: list[str | float | int] = [f"{exact:.2f}", format(exact.normalize(), "f")]
        forms += [float(exact)] + ([n // 100] if n % 100 == 0 else [])
        return st.sampled_from(forms)

    return cents.flatmap(spellings)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@st.composite
def _nir(draw: st.DrawFn, sexe: str, born: date) -> str:
    """A valid NIR (or provisional number) for this person, written as people type it."""
    if draw(st.booleans()):
        raw = valid_nir(draw(st.randoms(use_true_random=False)), sexe=sexe, date_naissance=born)
    else:
        first = draw(st.sampled_from("37" if sexe == "M" else "48"))
        month = draw(st.sampled_from(["01", "12", "20", "30", "42", "50", "99"]))
        department = draw(st.sampled_from(["2A", "2B", "01", "99", "97"]))
        body = f"{first}{draw(st.integers(0, 99)):02d}{month}{department}"
        body += f"{draw(st.integers(0, 999)):03d}{draw(st.integers(1, 999)):03d}"
        raw = body + nir_key(body)
    separators = draw(
        st.lists(st.sampled_from(["", " ", ".", "-", "\t"]), min_size=15, max_size=15)
    )
    return "".join(c + s for c, s in zip(raw, separators, strict=True))


@st.composite
def _certification(draw: st.DrawFn) -> dict[str, str] | None:
    kind = draw(st.sampled_from(["RNCP", "RS", "CERTIFINFO", None]))
    if kind is None:
        return None
    prefix = "" if kind == "CERTIFINFO" else kind
    digits = draw(st.integers(1, 100 - len(prefix)))
    return {"type": kind, "code": prefix + "9" * digits}


@st.composite
def _dates(draw: st.DrawFn, step: str) -> dict[str, Any]:
    """Session, validation and step dates in order, none after TODAY but the session end."""
    start = draw(days(_EARLIEST, TODAY))
    end = draw(days(start, _LAST_DAY) | days(start, min(start + timedelta(days=400), _LAST_DAY)))
    changes: dict[str, Any] = {"session.date_debut": start, "session.date_fin": end}
    changes["date_validation"] = draw(days(_EARLIEST, TODAY))
    last = min(end, TODAY)
    entered = step in ("ENTRE", "SORTI", "SOLDE") or (step == "ANNULE" and draw(st.booleans()))
    changes["date_entree"] = draw(days(start, last)) if entered else None
    if step in ("SORTI", "SOLDE"):
        exit_day = draw(days(changes["date_entree"], last))
        motif = draw(st.sampled_from(["FIN_FORMATION", "ABANDON", "FORCE_MAJEURE"]))
        changes["sortie"] = {"date": exit_day, "motif": motif}
    if step == "SOLDE":
        changes["solde.date"] = draw(days(changes["sortie"]["date"], TODAY))
    if step == "ANNULE":
        changes["annulation.date"] = draw(days(changes["date_validation"], TODAY))
    return changes


@st.composite
def sendable_snapshot_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A snapshot, as the Région sends it, that is valid and sendable, pushed to the limits."""
    step = draw(st.sampled_from(["VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"]))
    changes = draw(_dates(step))
    entry = changes["date_entree"] or changes["session.date_debut"]
    born = _years_before(entry, draw(st.integers(15, 99))) - timedelta(draw(st.integers(0, 364)))
    sexe = draw(st.sampled_from(["M", "F"]))
    changes |= {
        "id_dossier": draw(st.from_regex(r"[A-Za-z0-9._/-]{1,64}", fullmatch=True)),
        "version": draw(st.integers(1, VERSION_MAX)),
        "date_maj": draw(st.sampled_from(_TIMESTAMPS)),
        "stagiaire.nir": draw(_nir(sexe, born)),
        "stagiaire.nom_naissance": draw(names()),
        "stagiaire.prenom": draw(names()),
        "stagiaire.date_naissance": born,
        "stagiaire.sexe": sexe,
        "stagiaire.niveau_entree": draw(st.sampled_from(get_args(NiveauEntree))),
        "programme.code": draw(texts(1, 100)),
        "programme.dispositif": draw(texts(1, 100)),
        "programme.consultation": draw(st.none() | texts(1, 100)),
        "programme.categorie": draw(st.sampled_from(["QUALIFIANT", "PREPARATOIRE"])),
        "organisme.siret": draw(st.randoms(use_true_random=False).map(valid_siret))
        if draw(st.booleans())
        else draw(st.sampled_from(_LA_POSTE)),
        "organisme.raison_sociale": draw(texts(1, 250)),
        "action.numero": draw(texts(1, 100)),
        "action.intitule": draw(texts(1, 250)),
        "action.formacode": draw(st.none() | st.from_regex(r"[0-9]{5}", fullmatch=True)),
        "action.certification": draw(_certification()),
        "session.numero": draw(texts(1, 100)),
        "session.duree_heures": draw(hours(st.integers(1, HEURES_MAX_CENTS))),
        "session.departement": draw(st.sampled_from(["44", "49", "53", "72", "85"])),
        "taux_horaire_cents": draw(st.integers(0, TAUX_HORAIRE_MAX_CENTS)),
    }
    if step == "SOLDE":
        changes["solde.heures_realisees_centre"] = draw(hours(st.integers(0, HEURES_MAX_CENTS)))
        changes["solde.heures_realisees_entreprise"] = draw(hours(st.integers(0, HEURES_MAX_CENTS)))
    return snapshot_dict(step, **{k: _json(v) for k, v in changes.items()})


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value
