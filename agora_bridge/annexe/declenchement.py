"""The trigger rules: what stops a snapshot before AGORA, which change sends which call, and
which holds keep a planned call back — read from the enumerations and tables the code runs on.

The sentences around them say how the planner combines those tables (`decision/planner.py`);
the codes, calls, states and fields all come from the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import APPELS
from agora_bridge.annexe.correspondance import Ligne, lignes
from agora_bridge.decision.dossier import RECTIFIABLE, TRANSITIONS, CodeAgora, Creer, Rectifier
from agora_bridge.decision.planner import ETAPES, Retenue
from agora_bridge.decision.projection import FIGE
from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.codes import Motif
from agora_bridge.snapshots.model import Categorie, Statut
from agora_bridge.snapshots.nir import NirVerdict
from agora_bridge.snapshots.perimeter import Exclusion
from agora_bridge.snapshots.validation import RULES


@dataclass(frozen=True, slots=True)
class Regle:
    code: str
    declencheur: str = ""  # what in the snapshot, or in AGORA's state, sets it off
    appel: str = ""  # the AGORA call sent; "" when nothing is
    champs_agora: tuple[str, ...] = ()
    champs_instantane: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    titre: str
    introduction: str
    regles: tuple[Regle, ...]


def sections() -> tuple[Section, ...]:
    return (_rejets(), _exclusions(), _nir(), _envois(), _fixes(), _retenues(), _refus())


def _rejets() -> Section:
    return Section(
        "Lignes rejetées",
        "Une ligne qui enfreint une règle de `region-input.md` est rejetée avec toutes ses"
        " raisons (`agora-bridge validate` les compte) : elle n'atteint jamais AGORA. Les"
        " libellés sont ceux du code (`snapshots/validation.py`), en anglais.",
        tuple(Regle(code, description=meaning) for code, meaning in RULES.items()),
    )


def _exclusions() -> Section:
    return Section(
        "Exclusions",
        "Un dossier valide hors du périmètre n'est jamais envoyé (`snapshots/perimeter.py`),"
        " et n'a pas besoin d'un NIR valide. La première exclusion qui s'applique, dans cet"
        " ordre, est celle comptée. Catégories exclues par défaut (la liste de l'annexe) : "
        + ", ".join(c.value for c in Categorie if c in DEFAULT_EXCLUDED)
        + ".",
        _motifs(Exclusion, prefixes={Exclusion.CATEGORIE: "<catégorie>"}),
    )


def _nir() -> Section:
    held = (verdict for verdict in NirVerdict if verdict is not NirVerdict.VALIDE)
    return Section(
        "Mises en attente du NIR",
        "Un dossier dans le périmètre dont le NIR manque ou est invalide est retenu, ni envoyé"
        " ni perdu (`snapshots/nir.py`) : il part dès qu'une version porte un NIR valide.",
        _motifs(held),
    )


def _envois() -> Section:
    return Section(
        "Envois",
        "Pour chaque nouvel instantané envoyable, le planificateur (`decision/planner.py`)"
        " compare ce qu'AGORA a acquitté avec l'instantané et envoie, dans l'ordre : la création"
        " si AGORA n'a rien (après une recherche par `reference_financeur`, "
        f"`{wire.Recherche.ROUTE}`, qui relie un dossier qu'AGORA aurait déjà) ; sinon une seule"
        " rectification réunissant tout ce qui a changé parmi ce qu'AGORA a déjà ; puis chaque"
        " étape manquante jusqu'au statut de l'instantané (VALIDE → ENTRE → SORTI → SOLDE, ou"
        " → ANNULE, après l'entrée si le stagiaire est entré). Un instantané dont la version"
        " n'est pas plus grande que la dernière reçue est ignoré et compté.",
        (_creation(), *_etapes(), *_rectifications()),
    )


def _creation() -> Regle:
    body = _body(str(APPELS[Creer].route))
    return Regle(
        "CREATION",
        "Premier instantané envoyable du dossier : AGORA n'en a rien acquitté.",
        str(APPELS[Creer].route),
        tuple(ligne.champ_agora for ligne in body),
        _sources(body),
        "Crée le dossier dans l'état VALIDE ; les étapes déjà atteintes suivent.",
    )


def _etapes() -> Iterable[Regle]:
    for statut, (operation, champ) in ETAPES.items():
        appel = APPELS[operation]
        sources, target = TRANSITIONS[operation]
        body = _body(str(appel.route))
        yield Regle(
            statut.value,
            f"Le statut de l'instantané est {statut.value} ou le suit, et AGORA n'a pas encore"
            f" acquitté {statut.value} : l'étape part avec `{champ}`.",
            str(appel.route),
            tuple(ligne.champ_agora for ligne in body),
            _sources(body),
            f"Depuis l'état AGORA {_etats(sources)}, vers {target.value}.",
        )


def _rectifications() -> Iterable[Regle]:
    route = str(APPELS[Rectifier].route)
    for name, states in RECTIFIABLE.items():
        body = [ligne for ligne in _body(route) if _under(ligne.champ_modele, name)]
        yield Regle(
            f"RECTIFICATION_{name.upper()}",
            f"Une valeur de `{name}` qu'AGORA a déjà acquittée a changé dans l'instantané.",
            route,
            tuple(ligne.champ_agora for ligne in body),
            _sources(body),
            f"Accepté par AGORA dans l'état {_etats(states)} ; sur un dossier soldé ou annulé,"
            " l'instantané est retenu.",
        )


def _fixes() -> Section:
    creation = _body(str(APPELS[Creer].route))
    return Section(
        "Champs fixés à la création",
        "AGORA n'offre aucun appel qui les change. Un instantané qui en change un après la"
        " création n'envoie rien pour lui : le champ est compté comme non transmis sous le"
        " code ci-dessous (la Région le corrige par d'autres moyens), et le reste de"
        " l'instantané part, sauf refus prévu (section 7).",
        tuple(
            Regle(
                champ.nom,
                champs_agora=tuple(x.champ_agora for x in creation if x.champ_modele == path),
                champs_instantane=champ.sources,
            )
            for champ in FIGE
            for path in (f"fige.{champ.nom}",)
        ),
    )


def _retenues() -> Section:
    return Section(
        "Retenues",
        "Un mouvement qu'AGORA ne peut pas faire retient l'instantané, jamais abandonné en"
        " silence : aucun appel, le motif est visible dans l'état des opérations, et une version"
        " suivante qui le permet repart.",
        _motifs(Retenue, prefixes={Retenue.REFUS_PREVU: "<code AGORA>"}),
    )


def _refus() -> Section:
    return Section(
        "Refus prévus",
        "Chaque opération prévue est vérifiée, dans l'ordre, contre le modèle des règles"
        " d'AGORA (`decision/dossier.py`) depuis l'état acquitté ; la première qu'AGORA"
        f" refuserait retient l'instantané sous le motif `{Retenue.REFUS_PREVU.value}` suivi du"
        " code d'AGORA ci-dessous.",
        tuple(
            Regle(Retenue.REFUS_PREVU.value + code.value, description=code.description)
            for code in CodeAgora
        ),
    )


def _motifs(motifs: Iterable[Motif], prefixes: dict[Motif, str] | None = None) -> tuple[Regle, ...]:
    suffix = prefixes or {}
    return tuple(Regle(m.value + suffix.get(m, ""), description=m.description) for m in motifs)


def _body(route: str) -> list[Ligne]:
    return [ligne for ligne in lignes() if str(ligne.route) == route]


def _sources(body: Iterable[Ligne]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(source for ligne in body for source in ligne.sources))


def _under(path: str, name: str) -> bool:
    return path == name or path.startswith(f"{name}.")


def _etats(states: Iterable[Statut]) -> str:
    return ", ".join(statut.value for statut in Statut if statut in set(states))
