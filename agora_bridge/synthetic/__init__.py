"""Synthetic Région snapshots (`region-input.md`) for the demo, the tests and the benchmarks.

Pure and seeded: the same seed and `today` give the same lines. Fast enough for million-line
benchmark files: one `random()` call per decision, reference data built once at import, and
JSON encoded by one reused encoder.

Every valid snapshot respects the field and cross-field rules: entry within the session, exit
between entry and session end, settlement on or after exit, cancellation on or after
validation, trainee aged 18-60 on any day of the session, no date after `today`.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterator
from datetime import date
from enum import StrEnum
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from agora_bridge.synthetic.catalogue import ACTIONS, ENCODE, Action
from agora_bridge.synthetic.identity import valid_nir, valid_siret
from agora_bridge.synthetic.interface_agora import set_interface_agora
from agora_bridge.synthetic.reference import (
    EXCLUDED_PROGRAMMES,
    MOTIFS_ANNULATION,
    MOTIFS_SORTIE,
    NIVEAUX,
    NOMS,
    PRENOMS,
    STATUTS,
    pick,
)

__all__ = [
    "CUTOFF",
    "LineKind",
    "Mix",
    "generate",
    "snapshot_dict",
    "valid_nir",
    "valid_siret",
    "write_file",
]

# Shares of the realistic mix, per line; the rest (about 85 %) are plain sendable snapshots.
EXCLUDED_CATEGORY_SHARE = 0.03  # an excluded category (SANITAIRE_SOCIAL, VAE...)
INTERFACE_AGORA_OFF_SHARE = 0.02  # in-perimeter category, attribute decided false or unset
BEFORE_CUTOFF_SHARE = 0.05  # entry in 2016: AVANT_REPRISE for the backfill
NIR_ABSENT_SHARE = 0.01  # stagiaire.nir null
NIR_INVALID_SHARE = 0.01  # wrong key
INVALID_LINE_SHARE = 0.01  # bad SIRET, missing field, future date_validation, not JSON
LATER_VERSION_SHARE = 0.02  # an earlier dossier again: same id, version + 1, later statut
# Among sendable lines: the NIR written with spaces, as people type it (valid once normalised).
SPACED_NIR_SHARE = 0.03

CUTOFF = date(2017, 1, 1)  # the backfill's default: earlier entries are AVANT_REPRISE
FIRST_SESSION = date(2016, 1, 1)
_EARLIEST_TODAY = date(2017, 2, 1)


class Mix(StrEnum):
    """REALISTIC: the shares above; ALL_VALID: only sendable snapshots, each id once."""

    REALISTIC = "REALISTIC"
    ALL_VALID = "ALL_VALID"


class LineKind(StrEnum):
    """What a line of the realistic mix is meant to be."""

    SENDABLE = "SENDABLE"
    EXCLUDED_CATEGORY = "EXCLUDED_CATEGORY"
    INTERFACE_AGORA_OFF = "INTERFACE_AGORA_OFF"
    BEFORE_CUTOFF = "BEFORE_CUTOFF"
    NIR_ABSENT = "NIR_ABSENT"
    NIR_INVALID = "NIR_INVALID"
    INVALID = "INVALID"
    LATER_VERSION = "LATER_VERSION"


_SHARES = (
    (LineKind.EXCLUDED_CATEGORY, EXCLUDED_CATEGORY_SHARE),
    (LineKind.INTERFACE_AGORA_OFF, INTERFACE_AGORA_OFF_SHARE),
    (LineKind.BEFORE_CUTOFF, BEFORE_CUTOFF_SHARE),
    (LineKind.NIR_ABSENT, NIR_ABSENT_SHARE),
    (LineKind.NIR_INVALID, NIR_INVALID_SHARE),
    (LineKind.INVALID, INVALID_LINE_SHARE),
    (LineKind.LATER_VERSION, LATER_VERSION_SHARE),
)


def _hours(hundredths: int) -> str:
    """Hours as the Région writes them: "812.5", "35", "420.25"."""
    whole, cents = divmod(hundredths, 100)
    return f"{whole}.{cents:02d}".rstrip("0") if cents else str(whole)


# --- one dossier ---------------------------------------------------------------------------

_LAST_START_BEFORE_CUTOFF = date(2016, 12, 16)  # entry at most 14 days later: still 2016
# Whole years in days, rounded against us: the age bounds below hold whatever the leap years.
_AGE_18_DAYS = 18 * 366
_AGE_61_DAYS = 61 * 365


@cache  # the same few thousand days recur across a million lines
def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _ordinal(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def _stagiaire(rng: random.Random, debut: int, fin: int) -> dict[str, Any]:
    r = rng.random
    sexe = "M" if r() < 0.5 else "F"
    # Aged 18-60 on every day of the session, so any entry date (or none) keeps the age rule.
    lo, hi = fin - _AGE_61_DAYS + 1, debut - _AGE_18_DAYS
    birth = date.fromordinal(lo + int(r() * (hi - lo + 1)))
    return {
        "nir": valid_nir(rng, sexe=sexe, date_naissance=birth),
        "nom_naissance": pick(r, NOMS),
        "prenom": pick(r, PRENOMS[sexe]),
        "date_naissance": birth.isoformat(),
        "sexe": sexe,
        "niveau_entree": pick(r, NIVEAUX),
    }


def _new_dossier(
    rng: random.Random, act: Action, index: int, debut: int, today: int
) -> dict[str, Any]:
    """A VALIDE dossier, without the action's shared parts (see `_line`)."""
    r = rng.random
    fin = min(debut + act.days, today)
    validation = debut - int(r() * 46)
    start = _day(debut)
    return {
        "id_dossier": f"PDL-{start[:4]}-{index:07d}",
        "version": 1,
        "date_maj": "",
        "stagiaire": _stagiaire(rng, debut, fin),
        "session": {
            "numero": f"{act.parts['action']['numero']}-{start.replace('-', '')}",
            "date_debut": start,
            "date_fin": _day(fin),
            "duree_heures": _hours(act.hundredths),
            "departement": act.departement,
        },
        "taux_horaire_cents": act.taux_horaire_cents,
        "statut": "VALIDE",
        "date_validation": _day(validation),
        "date_entree": None,
        "sortie": None,
        "solde": None,
        "annulation": None,
    }


# --- statut steps: each sets the next state's fields and returns the date it recorded -------


def _enter(r: Callable[[], float], d: dict[str, Any], act: Action, today: int) -> str:
    debut, fin = _ordinal(d["session"]["date_debut"]), _ordinal(d["session"]["date_fin"])
    d["date_entree"] = day = _day(debut + int(r() * min(15, fin - debut + 1)))
    d["statut"] = "ENTRE"
    return day


def _exit(r: Callable[[], float], d: dict[str, Any], act: Action, today: int) -> str:
    entree, fin = _ordinal(d["date_entree"]), _ordinal(d["session"]["date_fin"])
    motif = pick(r, MOTIFS_SORTIE)
    day = _day(fin if motif == "FIN_FORMATION" else entree + int(r() * (fin - entree + 1)))
    d["sortie"] = {"date": day, "motif": motif}
    d["statut"] = "SORTI"
    return day


def _settle(r: Callable[[], float], d: dict[str, Any], act: Action, today: int) -> str:
    day = _day(min(_ordinal(d["sortie"]["date"]) + int(r() * 61), today))
    completed = d["sortie"]["motif"] == "FIN_FORMATION"
    ratio = 0.85 + 0.15 * r() if completed else 0.05 + 0.75 * r()
    # Quarter hours, as attendance sheets count them; placements only in qualifying training.
    done = int(act.hundredths * ratio) // 25 * 25
    qualifiant = act.parts["programme"]["categorie"] == "QUALIFIANT"
    placement = int(done * 0.3 * r()) // 25 * 25 if qualifiant else 0
    d["solde"] = {
        "date": day,
        "heures_realisees_centre": _hours(done - placement),
        "heures_realisees_entreprise": _hours(placement),
    }
    d["statut"] = "SOLDE"
    return day


def _cancel(r: Callable[[], float], d: dict[str, Any], act: Action, today: int) -> str:
    validation, debut = _ordinal(d["date_validation"]), _ordinal(d["session"]["date_debut"])
    day = _day(validation + int(r() * (debut - validation + 1)))
    d["annulation"] = {"date": day, "motif": pick(r, MOTIFS_ANNULATION)}
    d["statut"] = "ANNULE"
    return day


_Step = Callable[[Callable[[], float], dict[str, Any], Action, int], str]
_STEPS_TO: dict[str, tuple[_Step, ...]] = {
    "VALIDE": (),
    "ENTRE": (_enter,),
    "SORTI": (_enter, _exit),
    "SOLDE": (_enter, _exit, _settle),
    "ANNULE": (_cancel,),
}
_NEXT_STEP: dict[str, _Step] = {"VALIDE": _enter, "ENTRE": _exit, "SORTI": _settle}


def _date_maj(r: Callable[[], float], latest: str, version: int) -> str:
    # The hour grows with the version: a later version is later even on the same day.
    offset = "+02:00" if "04" <= latest[5:7] <= "10" else "+01:00"  # Paris, roughly
    return f"{latest}T{8 + min(version, 14):02d}:{int(r() * 60):02d}:00{offset}"


_Dossier = tuple[dict[str, Any], Action]


def _dossier(rng: random.Random, index: int, first: int, last: int, today: int) -> _Dossier:
    """A valid dossier in a random statut, its session starting between `first` and `last`."""
    r = rng.random
    act = pick(r, ACTIONS)
    d = _new_dossier(rng, act, index, first + int(r() * (last - first + 1)), today)
    latest = d["date_validation"]
    for step in _STEPS_TO[pick(r, STATUTS)]:
        latest = step(r, d, act, today)
        d["version"] += 1
    if r() < 0.2:  # a correction made without a change of statut
        d["version"] += 1
    d["date_maj"] = _date_maj(r, latest, d["version"])
    return d, act


def _sendable_dossier(rng: random.Random, index: int, today: date) -> _Dossier:
    return _dossier(rng, index, CUTOFF.toordinal(), today.toordinal(), today.toordinal())


def _complete(d: dict[str, Any], act: Action) -> dict[str, Any]:
    """The whole snapshot: `d` plus copies of the action's shared parts, safe to change."""
    action = act.parts["action"]
    certification = action["certification"] and dict(action["certification"])
    d["programme"] = dict(act.parts["programme"])
    d["organisme"] = dict(act.parts["organisme"])
    d["action"] = {**action, "certification": certification}
    return d


def _json_or_null(value: Any) -> str:
    return "null" if value is None else ENCODE(value)


def _quoted_or_null(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _line(d: dict[str, Any], act: Action) -> str:
    """The JSON line of a dossier: by hand, twice as fast as `json` on the hot path.

    Safe because every string here is ours and needs no escaping (a test compares with
    `json.loads`); a dossier that a variant completed and changed goes through `json`.
    """
    if "programme" in d:
        return ENCODE(d)
    st, se = d["stagiaire"], d["session"]
    return (
        f'{{"id_dossier":"{d["id_dossier"]}","version":{d["version"]},'
        f'"date_maj":"{d["date_maj"]}","stagiaire":{{"nir":{_quoted_or_null(st["nir"])},'
        f'"nom_naissance":"{st["nom_naissance"]}","prenom":"{st["prenom"]}",'
        f'"date_naissance":"{st["date_naissance"]}","sexe":"{st["sexe"]}",'
        f'"niveau_entree":"{st["niveau_entree"]}"}},{act.fragment},'
        f'"session":{{"numero":"{se["numero"]}","date_debut":"{se["date_debut"]}",'
        f'"date_fin":"{se["date_fin"]}","duree_heures":"{se["duree_heures"]}",'
        f'"departement":"{se["departement"]}"}},"taux_horaire_cents":{d["taux_horaire_cents"]},'
        f'"statut":"{d["statut"]}","date_validation":"{d["date_validation"]}",'
        f'"date_entree":{_quoted_or_null(d["date_entree"])},'
        f'"sortie":{_json_or_null(d["sortie"])},"solde":{_json_or_null(d["solde"])},'
        f'"annulation":{_json_or_null(d["annulation"])}}}'
    )


def _check_today(today: date) -> None:
    if today < _EARLIEST_TODAY:
        msg = f"today must be {_EARLIEST_TODAY} or later: sessions start after the cut-off"
        raise ValueError(msg)


def snapshot_dict(rng: random.Random, *, index: int, today: date) -> dict[str, Any]:
    """One valid, in-perimeter, sendable snapshot, as the JSON-ready dict of the Région."""
    _check_today(today)
    return _complete(*_sendable_dossier(rng, index, today))


# --- the realistic mix ---------------------------------------------------------------------


def _spaced(nir: str) -> str:
    return f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"


def _variant(rng: random.Random, kind: LineKind, index: int, today: date) -> _Dossier:
    """A valid dossier of `kind`: excluded, held, or sendable."""
    if kind is LineKind.BEFORE_CUTOFF:
        first, last = FIRST_SESSION.toordinal(), _LAST_START_BEFORE_CUTOFF.toordinal()
        return _dossier(rng, index, first, last, today.toordinal())
    d, act = _sendable_dossier(rng, index, today)
    stagiaire = d["stagiaire"]
    match kind:
        case LineKind.SENDABLE | LineKind.LATER_VERSION if rng.random() < SPACED_NIR_SHARE:
            stagiaire["nir"] = _spaced(stagiaire["nir"])
        case LineKind.EXCLUDED_CATEGORY:
            dispositif, categorie = pick(rng.random, EXCLUDED_PROGRAMMES)
            # Mostly flagged for AGORA all the same: the inconsistency the reports count.
            flagged = rng.random() < 0.7
            programme = _complete(d, act)["programme"]
            programme.update(code=f"PRG-{dispositif}", dispositif=dispositif, categorie=categorie)
            set_interface_agora(programme, rng.random, on=flagged)
        case LineKind.INTERFACE_AGORA_OFF:
            set_interface_agora(_complete(d, act)["programme"], rng.random, on=False)
        case LineKind.NIR_ABSENT:
            stagiaire["nir"] = None
        case LineKind.NIR_INVALID:
            nir = stagiaire["nir"]
            stagiaire["nir"] = f"{nir[:13]}{int(nir[13:]) % 97 + 1:02d}"  # never the right key
    return d, act


def _invalid_line(rng: random.Random, index: int, today: date) -> str:
    d = snapshot_dict(rng, index=index, today=today)
    fault = int(rng.random() * 4)
    if fault == 0:  # one digit changed always breaks the Luhn sum
        siret = d["organisme"]["siret"]
        d["organisme"]["siret"] = f"{siret[:13]}{(int(siret[13]) + 1) % 10}"
    elif fault == 1:
        part, field = pick(rng.random, (("stagiaire", "prenom"), ("session", "date_debut")))
        del d[part][field]
    elif fault == 2:
        d["date_validation"] = _day(today.toordinal() + 1 + int(rng.random() * 30))
    else:  # an export cut short
        return f'{{"id_dossier":"{d["id_dossier"]}","version":1,"stagiaire":{{"nom_'
    return ENCODE(d)


_REMEMBERED_SHARE = 0.1
_REMEMBERED_MAX = 64


def _remember(rng: random.Random, recent: list[_Dossier], dossier: _Dossier) -> None:
    # A sample is enough to draw later versions from, and keeps few dossiers alive.
    if rng.random() >= _REMEMBERED_SHARE or dossier[0]["statut"] not in _NEXT_STEP:
        return
    if len(recent) < _REMEMBERED_MAX:
        recent.append(dossier)
    else:
        recent[int(rng.random() * len(recent))] = dossier


def _later_version(rng: random.Random, recent: list[_Dossier], today: date) -> str:
    slot = int(rng.random() * len(recent))
    earlier, act = recent[slot]
    recent[slot] = recent[-1]
    recent.pop()
    # A shallow copy is enough: steps replace top-level fields, never edit nested ones.
    d = dict(earlier)
    latest = _NEXT_STEP[earlier["statut"]](rng.random, d, act, today.toordinal())
    d["version"] = earlier["version"] + 1
    d["date_maj"] = _date_maj(rng.random, latest, d["version"])
    return _line(d, act)


_THRESHOLDS = tuple(zip(accumulate(s for _, s in _SHARES), (k for k, _ in _SHARES), strict=True))


def _draw_kind(x: float) -> LineKind:
    for threshold, kind in _THRESHOLDS:
        if x < threshold:
            return kind
    return LineKind.SENDABLE


def _realistic_lines(rng: random.Random, n: int, today: date) -> Iterator[str]:
    recent: list[_Dossier] = []  # sendable dossiers that a later version may advance
    for index in range(1, n + 1):
        kind = _draw_kind(rng.random())
        if kind is LineKind.LATER_VERSION and recent:
            yield _later_version(rng, recent, today)
        elif kind is LineKind.INVALID:
            yield _invalid_line(rng, index, today)
        else:
            dossier = _variant(rng, kind, index, today)
            if kind in (LineKind.SENDABLE, LineKind.LATER_VERSION):
                _remember(rng, recent, dossier)
            yield _line(*dossier)


def generate(n: int, *, seed: int = 0, today: date, mix: Mix = Mix.REALISTIC) -> Iterator[str]:
    """`n` JSON Lines (without newline) of snapshots; the same arguments give the same lines."""
    _check_today(today)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, no secret
    if mix is Mix.ALL_VALID:
        return (_line(*_sendable_dossier(rng, i, today)) for i in range(1, n + 1))
    return _realistic_lines(rng, n, today)


def write_file(path: Path, n: int, *, seed: int = 0, today: date, mix: Mix = Mix.REALISTIC) -> None:
    """Write `generate(...)` to `path`, gzip-compressed when its name ends in `.gz`."""
    lines = (f"{line}\n".encode() for line in generate(n, seed=seed, today=today, mix=mix))
    with path.open("wb") as raw:
        if not path.name.endswith(".gz"):
            raw.writelines(lines)
            return
        # No name nor time in the header: the same arguments give the same bytes.
        # Level 1: benchmark files are big, and these lines compress well anyway.
        with gzip.GzipFile("", "wb", compresslevel=1, fileobj=raw, mtime=0) as packed:
            packed.writelines(lines)
