"""The field correspondence: the body tables of `agora/mapping.py`, each field followed back
through `decision/projection.py` to the snapshot fields it comes from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import APPELS, LIGNE_LOT, Corps
from agora_bridge.decision.dossier import (
    Annuler,
    Creer,
    Entrer,
    Operation,
    Rectifier,
    Solder,
    Sortir,
)
from agora_bridge.decision.projection import PARTIES, Champ, Transformation

# The annex's words for the calls (the routes come from the code).
NOMS: dict[type[Operation], str] = {
    Creer: "Création du dossier",
    Entrer: "Entrée en formation",
    Sortir: "Sortie de formation",
    Solder: "Solde",
    Annuler: "Annulation",
    Rectifier: "Rectification",
}
LOT = "Ligne de lot (reprise d'antériorité)"


@dataclass(frozen=True, slots=True)
class CorpsDocumente:
    """A documented body: its name, its route, its table, and where it reads in the dossier."""

    nom: str
    route: wire.Route
    corps: Corps[Any]
    racine: str


@dataclass(frozen=True, slots=True)
class Ligne:
    """One AGORA field of one body and what gives it: a snapshot field through a
    transformation, or a setting (`transformation` None)."""

    appel: str  # the call's name
    route: wire.Route
    champ_agora: str  # dotted within the body
    champ_modele: str  # dotted within `AgoraDossier`; the setting's name for a setting
    sources: tuple[str, ...]
    transformation: Transformation | None


def corps_documentes() -> tuple[CorpsDocumente, ...]:
    calls = tuple(CorpsDocumente(NOMS[op], a.route, a.corps, a.racine) for op, a in APPELS.items())
    return (*calls, CorpsDocumente(LOT, wire.LigneLot.ROUTE, LIGNE_LOT, ""))


def lignes() -> tuple[Ligne, ...]:
    """Every field of every body AGORA receives, in the order of its body."""
    return tuple(ligne for body in corps_documentes() for ligne in _lignes(body))


def _lignes(body: CorpsDocumente) -> Iterator[Ligne]:
    projection = _projection()
    for agora, modele in _champs(body.corps, "", body.racine):
        if modele is None:  # a setting
            yield Ligne(body.nom, body.route, agora, agora, (), None)
            continue
        champ = projection[modele]
        yield Ligne(body.nom, body.route, agora, modele, champ.sources, champ.transformation)


def _champs(corps: Corps[Any], agora: str, modele: str) -> Iterator[tuple[str, str | None]]:
    """(AGORA path, model path) of each leaf, in the order of the body's model; a setting's
    model path is None."""
    by_name = {champ.agora: champ for champ in corps.champs}
    for name in corps.modele.model_fields:
        path = _join(agora, name)
        if name in corps.configuration:
            yield path, None
        elif name in by_name:
            champ = by_name[name]
            source = _join(modele, champ.source)
            if champ.corps is None:
                yield path, source
            else:
                yield from _champs(champ.corps, path, source)


def _projection() -> dict[str, Champ]:
    return {_join(partie, champ.nom): champ for partie, table in PARTIES for champ in table}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name
