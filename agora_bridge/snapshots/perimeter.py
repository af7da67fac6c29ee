"""Classification of a valid snapshot: excluded, held, or sendable (`region-input.md`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from agora_bridge.snapshots.codes import Motif
from agora_bridge.snapshots.model import Categorie, Programme, Snapshot
from agora_bridge.snapshots.nir import NirVerdict, check_nir


class Classement(StrEnum):
    EXCLU = "EXCLU"
    RETENU = "RETENU"
    ENVOYABLE = "ENVOYABLE"


@dataclass(frozen=True, slots=True)
class Classification:
    classement: Classement
    # The counted reason: an `Exclusion` (`CATEGORIE_<X>`, `INTERFACE_AGORA_NON`,
    # `AVANT_REPRISE`) or a `NirVerdict` (`NIR_ABSENT`, `NIR_INVALIDE`); None when sendable.
    motif: str | None = None


class Exclusion(Motif):
    """Why a dossier stays out of AGORA, in the order `exclusion_reason` tries them."""

    CATEGORIE = (
        "CATEGORIE_",
        "Suivi de la catégorie du programme (CATEGORIE_VAE…) : une catégorie exclue du périmètre"
        " (configuration PERIMETRE__CATEGORIES_EXCLUES). Exclue même quand l'attribut"
        " « Interface AGORA » est vrai, ce qui est compté comme une incohérence.",
    )
    INTERFACE_AGORA_NON = (
        "INTERFACE_AGORA_NON",
        "L'attribut « Interface AGORA » décidé est faux : celui du programme, sinon de la"
        " consultation, sinon du dispositif ; renseigné nulle part, il est faux.",
    )
    AVANT_REPRISE = (
        "AVANT_REPRISE",
        "Reprise d'antériorité seulement : la date d'entrée (date_entree, sinon"
        " session.date_debut) précède la date de coupure (BACKFILL__SINCE, par défaut"
        " 2017-01-01).",
    )


SENDABLE = Classification(Classement.ENVOYABLE)


@dataclass(frozen=True, slots=True)
class Perimeter:
    categories_exclues: frozenset[Categorie]


def interface_agora(programme: Programme) -> bool:
    """The annex's "Interface AGORA" attribute as decided: the most specific object that sets
    it (programme, else consultation, else dispositif); set nowhere, it is false."""
    levels = (
        programme.interface_agora,
        programme.interface_agora_consultation,
        programme.interface_agora_dispositif,
    )
    return next((level for level in levels if level is not None), False)


def exclusion_reason(snapshot: Snapshot, perimeter: Perimeter, *, since: date | None) -> str | None:
    """The first applicable exclusion, in the order the reports count them."""
    programme = snapshot.programme
    if programme.categorie in perimeter.categories_exclues:
        return Exclusion.CATEGORIE.value + programme.categorie.value
    if not interface_agora(programme):
        return Exclusion.INTERFACE_AGORA_NON.value
    if since is not None and snapshot.entry_date < since:
        return Exclusion.AVANT_REPRISE.value
    return None


def classify(snapshot: Snapshot, perimeter: Perimeter, *, since: date | None) -> Classification:
    """`since` is the backfill cut-off; the synchronous flows pass None (no cut-off)."""
    reason = exclusion_reason(snapshot, perimeter, since=since)
    if reason is not None:
        return Classification(Classement.EXCLU, reason)
    stagiaire = snapshot.stagiaire
    verdict = check_nir(stagiaire.nir, sexe=stagiaire.sexe, date_naissance=stagiaire.date_naissance)
    if verdict is not NirVerdict.VALIDE:
        return Classification(Classement.RETENU, verdict.value)
    return SENDABLE


def is_inconsistent(snapshot: Snapshot, perimeter: Perimeter) -> bool:
    """An excluded category whose decided attribute is true: excluded, and reported as an
    anomaly."""
    programme = snapshot.programme
    return programme.categorie in perimeter.categories_exclues and interface_agora(programme)
