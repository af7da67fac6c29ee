"""AGORA's business rules (422), pure functions over well-formed bodies.

Each function returns every broken rule as an `Erreur`; `ordered` puts them in the order of
`agora-v2.md` (NIR, SIRET, future dates, date coherence, costs) so that the answer's `code`
is the first one's. The NIR and the SIRET are checked with python-stdnum (`identifiants`),
independently of the bridge's own functions; the cost arithmetic is the bridge's settlement
module, the one definition of the amounts both sides must compute alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from agora_bridge.snapshots.settlement import cout_pedagogique_cents, taux_realisation
from mocks.identifiants import nir_is_valid, siret_is_valid
from mocks.models import Creation, LigneLot, Solde, Titulaire
from mocks.problems import (
    COUT_INCOHERENT,
    DATE_FUTURE,
    DATE_INCOHERENTE,
    NIR_INVALIDE,
    SIRET_INVALIDE,
    SORTIE_APRES_FIN_SESSION,
    Erreur,
)

_RANK = {
    NIR_INVALIDE: 0,
    SIRET_INVALIDE: 1,
    DATE_FUTURE: 2,
    DATE_INCOHERENTE: 3,
    SORTIE_APRES_FIN_SESSION: 3,
    COUT_INCOHERENT: 4,
}


@dataclass(frozen=True, slots=True)
class Cadre:
    """What the step rules read of a dossier: fixed at its creation."""

    date_validation: date
    session_debut: date
    session_fin: date
    duree_heures: Decimal

    @classmethod
    def of(cls, creation: Creation) -> Cadre:
        session = creation.session
        return cls(
            creation.date_validation,
            session.date_debut,
            session.date_fin,
            Decimal(session.duree_heures),
        )


def ordered(erreurs: list[Erreur]) -> list[Erreur]:
    return sorted(erreurs, key=lambda erreur: _RANK.get(erreur.code, len(_RANK)))


def titulaire_errors(titulaire: Titulaire, champ: str = "titulaire") -> list[Erreur]:
    if nir_is_valid(titulaire.nir, sexe=titulaire.sexe, date_naissance=titulaire.date_naissance):
        return []
    message = "NIR mal formé ou en désaccord avec le sexe ou la date de naissance"
    return [Erreur(f"{champ}.nir", NIR_INVALIDE, message)]


def future_errors(dates: Iterable[tuple[str, date | None]], today: date) -> list[Erreur]:
    return [
        Erreur(champ, DATE_FUTURE, f"date postérieure à aujourd'hui ({today.isoformat()})")
        for champ, day in dates
        if day is not None and day > today
    ]


def creation_errors(creation: Creation, today: date) -> list[Erreur]:
    erreurs = titulaire_errors(creation.titulaire)
    if not siret_is_valid(creation.organisme.siret):
        message = "clé de contrôle du SIRET ou de son SIREN invalide"
        erreurs.append(Erreur("organisme.siret", SIRET_INVALIDE, message))
    erreurs += future_errors([("date_validation", creation.date_validation)], today)
    if creation.session.date_debut > creation.session.date_fin:
        erreurs.append(Erreur("session.date_fin", DATE_INCOHERENTE, "fin avant le début"))
    return ordered(erreurs)


def entree_errors(cadre: Cadre, date_entree: date, champ: str = "date_entree") -> list[Erreur]:
    if cadre.session_debut <= date_entree <= cadre.session_fin:
        return []
    return [Erreur(champ, DATE_INCOHERENTE, "entrée hors des dates de la session")]


def sortie_errors(
    cadre: Cadre, date_entree: date, date_sortie: date, champ: str = "date_sortie"
) -> list[Erreur]:
    if date_sortie > cadre.session_fin:
        return [Erreur(champ, SORTIE_APRES_FIN_SESSION, "sortie après la fin de la session")]
    if date_sortie < date_entree:
        return [Erreur(champ, DATE_INCOHERENTE, "sortie avant l'entrée")]
    return []


def solde_errors(cadre: Cadre, date_sortie: date, solde: Solde, prefix: str = "") -> list[Erreur]:
    erreurs = []
    if solde.date_solde < date_sortie:
        erreurs.append(Erreur(f"{prefix}date_solde", DATE_INCOHERENTE, "solde avant la sortie"))
    centre = Decimal(solde.heures_realisees_centre)
    realisees = centre + Decimal(solde.heures_realisees_entreprise)
    if solde.taux_realisation != taux_realisation(realisees, cadre.duree_heures):
        message = "attendu ⌊100 × heures réalisées / durée⌋, au plus 100"
        erreurs.append(Erreur(f"{prefix}taux_realisation", COUT_INCOHERENT, message))
    if solde.cout_pedagogique_cents != cout_pedagogique_cents(centre, solde.taux_horaire_cents):
        message = "attendu heures centre × taux horaire, arrondi au centime"
        erreurs.append(Erreur(f"{prefix}cout_pedagogique_cents", COUT_INCOHERENT, message))
    return erreurs


def annulation_errors(
    cadre: Cadre, date_annulation: date, champ: str = "date_annulation"
) -> list[Erreur]:
    if date_annulation >= cadre.date_validation:
        return []
    return [Erreur(champ, DATE_INCOHERENTE, "annulation avant la validation")]


def ligne_errors(ligne: LigneLot, today: date) -> list[Erreur]:
    """Every rule over a lot line: the creation's, then each step's against the previous."""
    entree, sortie, solde, annulation = ligne.entree, ligne.sortie, ligne.solde, ligne.annulation
    dates = [
        ("entree.date_entree", entree.date_entree if entree else None),
        ("sortie.date_sortie", sortie.date_sortie if sortie else None),
        ("solde.date_solde", solde.date_solde if solde else None),
        ("annulation.date_annulation", annulation.date_annulation if annulation else None),
    ]
    erreurs = creation_errors(ligne, today) + future_errors(dates, today)
    cadre = Cadre.of(ligne)
    if entree is not None:
        erreurs += entree_errors(cadre, entree.date_entree, "entree.date_entree")
        if sortie is not None:
            day = entree.date_entree
            erreurs += sortie_errors(cadre, day, sortie.date_sortie, "sortie.date_sortie")
    if sortie is not None and solde is not None:
        erreurs += solde_errors(cadre, sortie.date_sortie, solde, "solde.")
    if annulation is not None:
        day = annulation.date_annulation
        erreurs += annulation_errors(cadre, day, "annulation.date_annulation")
    return ordered(erreurs)
