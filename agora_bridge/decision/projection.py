"""The dossier AGORA should hold for a snapshot, declared field by field.

Each table lists, for one part of `AgoraDossier`, the snapshot fields a field reads and how
it transforms them (`region-input.md`: NIR to 13 characters, names for AGORA, 2019 levels,
settlement computed). `project` builds the dossier from these tables, and the annex's field
correspondence (`agora-bridge doc-mapping`) is printed from the same ones, joined with the
wire names of `agora/mapping.py`: a change here changes both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
        return self.transformation.fonction(*[get(snapshot) for get in self._getters])


@dataclass(frozen=True, slots=True)
class Table:
    """The fields of one part. `valeurs` reads every copied field in one `attrgetter` call:
    `project` runs for every planned dossier, and field by field cost twice as much."""

    champs: tuple[Champ, ...]
    _copied: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _read: Callable[[Snapshot], tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    _computed: tuple[Champ, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        copied = [c for c in self.champs if c.transformation is COPIE]
        getter = attrgetter(*(c.sources[0] for c in copied))
        read = getter if len(copied) > 1 else lambda s: (getter(s),)
        object.__setattr__(self, "_copied", tuple(c.nom for c in copied))
        object.__setattr__(self, "_read", read)
        object.__setattr__(self, "_computed", tuple(c for c in self.champs if c not in copied))

    def __iter__(self) -> Iterator[Champ]:
        return iter(self.champs)

    def valeurs(self, snapshot: Snapshot) -> dict[str, Any]:
        values = dict(zip(self._copied, self._read(snapshot), strict=True))
        for champ in self._computed:
            values[champ.nom] = champ.valeur(snapshot)
        return values


def _copies(*pairs: tuple[str, str]) -> tuple[Champ, ...]:
    return tuple(Champ(nom, (source,)) for nom, source in pairs)


DOSSIER = Table(_copies(("statut", "statut"), ("date_entree", "date_entree")))
TITULAIRE = Table(
    (
        Champ("nir", ("stagiaire.nir",), NIR_13),
        Champ("nom_naissance", ("stagiaire.nom_naissance",), NOM),
        Champ("prenom", ("stagiaire.prenom",), NOM),
        *_copies(("date_naissance", "stagiaire.date_naissance"), ("sexe", "stagiaire.sexe")),
    )
)
FIGE = Table(
    (
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
)
SORTIE = Table(_copies(("date", "sortie.date"), ("motif", "sortie.motif")))
_CENTRE = "solde.heures_realisees_centre"
SOLDE = Table(
    (
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
)
ANNULATION = Table(_copies(("date", "annulation.date"), ("motif", "annulation.motif")))

# Each table with the path of its part in `AgoraDossier` ("" for the dossier's own fields).
PARTIES: tuple[tuple[str, Table], ...] = (
    ("", DOSSIER),
    ("titulaire", TITULAIRE),
    ("fige", FIGE),
    ("sortie", SORTIE),
    ("solde", SOLDE),
    ("annulation", ANNULATION),
)


def project(s: Snapshot) -> AgoraDossier:
    """The dossier AGORA should hold for this snapshot (its NIR must be valid)."""
    if s.stagiaire.nir is None:
        raise ValueError("only a snapshot with a valid NIR has an AGORA projection")
    return AgoraDossier(
        **DOSSIER.valeurs(s),
        titulaire=Titulaire(**TITULAIRE.valeurs(s)),
        fige=Fige(**FIGE.valeurs(s)),
        sortie=SortieAgora(**SORTIE.valeurs(s)) if s.sortie else None,
        solde=SoldeAgora(**SOLDE.valeurs(s)) if s.solde else None,
        annulation=AnnulationAgora(**ANNULATION.valeurs(s)) if s.annulation else None,
    )
