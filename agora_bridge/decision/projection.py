"""The dossier AGORA should hold for a snapshot, declared field by field.

Each table lists, for one part of `AgoraDossier`, the snapshot fields a field reads and how
it transforms them (`region-input.md`: NIR to 13 characters, names for AGORA, 2019 levels,
settlement computed). `project` builds the dossier from these tables, and the annex's field
correspondence (`agora-bridge doc-mapping`) is printed from the same ones, joined with the
wire names of `agora/mapping.py`: a change here changes both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Any

from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Fige,
    SoldeAgora,
    SortieAgora,
    Titulaire,
)
from agora_bridge.snapshots.model import Certification, Snapshot
from agora_bridge.snapshots.nir import nir_for_agora
from agora_bridge.snapshots.normalise import agora_name, level_2019
from agora_bridge.snapshots.settlement import cout_pedagogique_cents, taux_realisation


@dataclass(frozen=True, slots=True)
class Transformation:
    """How a field's snapshot values become AGORA's value; `description` is the annex's text."""

    description: str
    fonction: Callable[..., Any]


def _same(value: object) -> object:
    return value


def certification_pair(value: Certification | None) -> tuple[str, str] | None:
    return (value.type, value.code) if value else None


def taux_du_solde(centre: Decimal, entreprise: Decimal, duree: Decimal) -> int:
    return taux_realisation(centre + entreprise, duree)


COPIE = Transformation("Recopié tel quel.", _same)
NIR_13 = Transformation(
    "Normalisé (espaces, points et tirets retirés, majuscules), réduit à ses 13 premiers"
    " caractères : la clé n'est pas envoyée.",
    nir_for_agora,
)
NOM = Transformation(
    "En majuscules, sans accents ni ligatures ; lettres A à Z, espace, tiret et apostrophe"
    " seuls, espaces réduits à un, 50 caractères au plus (« Éloïse  d'Arc-Noël » →"
    " « ELOISE D'ARC-NOEL »).",
    agora_name,
)
NIVEAU_2019 = Transformation(
    "Nomenclature de 2019 : VI et Vbis → 2, V → 3, IV → 4, III → 5, II → 6, I → 7 ; un code"
    " de 2019 (1 à 8) est recopié.",
    level_2019,
)
CERTIFICATION = Transformation(
    "Type et code recopiés ; null sans certification.", certification_pair
)
TAUX_REALISATION = Transformation(
    "Calculé : ⌊100 × (heures en centre + heures en entreprise) / durée de la session⌋,"
    " plafonné à 100.",
    taux_du_solde,
)
COUT_PEDAGOGIQUE = Transformation(
    "Calculé : heures en centre × taux horaire, arrondi au centime (la moitié vers le haut),"
    " en arithmétique décimale exacte ; les heures en entreprise ne sont pas facturées.",
    cout_pedagogique_cents,
)


@dataclass(frozen=True, slots=True)
class Champ:
    """One field of the model: its name, the snapshot fields it reads (dotted), and how."""

    nom: str
    sources: tuple[str, ...]
    transformation: Transformation = COPIE
    _getters: tuple[attrgetter[Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_getters", tuple(attrgetter(s) for s in self.sources))

    def valeur(self, snapshot: Snapshot) -> Any:
        return self.transformation.fonction(*(get(snapshot) for get in self._getters))


def _copies(*pairs: tuple[str, str]) -> tuple[Champ, ...]:
    return tuple(Champ(nom, (source,)) for nom, source in pairs)


DOSSIER = _copies(("statut", "statut"), ("date_entree", "date_entree"))
TITULAIRE = (
    Champ("nir", ("stagiaire.nir",), NIR_13),
    Champ("nom_naissance", ("stagiaire.nom_naissance",), NOM),
    Champ("prenom", ("stagiaire.prenom",), NOM),
    *_copies(("date_naissance", "stagiaire.date_naissance"), ("sexe", "stagiaire.sexe")),
)
FIGE = (
    *_copies(("reference_financeur", "id_dossier"), ("dispositif", "programme.dispositif")),
    Champ("niveau_entree", ("stagiaire.niveau_entree",), NIVEAU_2019),
    *_copies(
        ("siret", "organisme.siret"),
        ("action_numero", "action.numero"),
        ("formacode", "action.formacode"),
    ),
    Champ("certification", ("action.certification",), CERTIFICATION),
    *_copies(
        ("session_numero", "session.numero"),
        ("session_debut", "session.date_debut"),
        ("session_fin", "session.date_fin"),
        ("duree_heures", "session.duree_heures"),
        ("date_validation", "date_validation"),
    ),
)
SORTIE = _copies(("date", "sortie.date"), ("motif", "sortie.motif"))
_CENTRE = "solde.heures_realisees_centre"
SOLDE = (
    *_copies(
        ("date", "solde.date"),
        ("heures_realisees_centre", _CENTRE),
        ("heures_realisees_entreprise", "solde.heures_realisees_entreprise"),
    ),
    Champ(
        "taux_realisation",
        (_CENTRE, "solde.heures_realisees_entreprise", "session.duree_heures"),
        TAUX_REALISATION,
    ),
    *_copies(("taux_horaire_cents", "taux_horaire_cents")),
    Champ("cout_pedagogique_cents", (_CENTRE, "taux_horaire_cents"), COUT_PEDAGOGIQUE),
)
ANNULATION = _copies(("date", "annulation.date"), ("motif", "annulation.motif"))

# Each table with the path of its part in `AgoraDossier` ("" for the dossier's own fields).
PARTIES: tuple[tuple[str, tuple[Champ, ...]], ...] = (
    ("", DOSSIER),
    ("titulaire", TITULAIRE),
    ("fige", FIGE),
    ("sortie", SORTIE),
    ("solde", SOLDE),
    ("annulation", ANNULATION),
)


def _values(champs: tuple[Champ, ...], snapshot: Snapshot) -> dict[str, Any]:
    return {champ.nom: champ.valeur(snapshot) for champ in champs}


def project(s: Snapshot) -> AgoraDossier:
    """The dossier AGORA should hold for this snapshot (its NIR must be valid)."""
    if s.stagiaire.nir is None:
        raise ValueError("only a snapshot with a valid NIR has an AGORA projection")
    return AgoraDossier(
        **_values(DOSSIER, s),
        titulaire=Titulaire(**_values(TITULAIRE, s)),
        fige=Fige(**_values(FIGE, s)),
        sortie=SortieAgora(**_values(SORTIE, s)) if s.sortie else None,
        solde=SoldeAgora(**_values(SOLDE, s)) if s.solde else None,
        annulation=AnnulationAgora(**_values(ANNULATION, s)) if s.annulation else None,
    )
