"""From the bridge's model of a dossier to AGORA's wire bodies, and back.

The planner speaks in `decision.dossier` terms (operations, `AgoraDossier`); this module is
the one place that turns them into the bodies of `agora-v2.md` (13-character NIR, names
normalised, 2019 level, hours as decimal strings, costs in cents), and reads AGORA's view of
a dossier (`GET`, the body of `409 TRANSITION_DEJA_APPLIQUEE`) back into our model.
"""

from __future__ import annotations

import json
from typing import assert_never

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.schemas import from_agora
from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    Titulaire,
)
from agora_bridge.snapshots.model import Statut

TransitionBody = wire.Entree | wire.Sortie | wire.Solde | wire.Annulation
Body = wire.Creation | TransitionBody | wire.Rectification


def body_for(op: Operation, *, code_financeur: str) -> Body:
    """The request body of one operation."""
    match op:
        case Creer():
            return creation(op.titulaire, op.fige, code_financeur=code_financeur)
        case Entrer(date_entree=day):
            return wire.Entree(date_entree=day)
        case Sortir(sortie=sortie):
            return _sortie(sortie)
        case Solder(solde=solde):
            return _solde(solde)
        case Annuler(annulation=annulation):
            return _annulation(annulation)
        case Rectifier():
            return _rectification(op)
        case _:
            assert_never(op)


def creation(titulaire: Titulaire, fige: Fige, *, code_financeur: str) -> wire.Creation:
    certification = (
        wire.Certification(type=fige.certification[0], code=fige.certification[1])
        if fige.certification
        else None
    )
    return wire.Creation(
        reference_financeur=fige.reference_financeur,
        code_financeur=code_financeur,
        dispositif=fige.dispositif,
        titulaire=_titulaire(titulaire),
        niveau_entree=fige.niveau_entree,
        organisme=wire.Organisme(siret=fige.siret),
        action=wire.Action(
            numero=fige.action_numero, formacode=fige.formacode, certification=certification
        ),
        session=wire.Session(
            numero=fige.session_numero,
            date_debut=fige.session_debut,
            date_fin=fige.session_fin,
            duree_heures=fige.duree_heures,
        ),
        date_validation=fige.date_validation,
    )


def lot_line(dossier: AgoraDossier, *, code_financeur: str) -> wire.LigneLot:
    """A backfill line: the creation body plus the stages that give the final state."""
    body = creation(dossier.titulaire, dossier.fige, code_financeur=code_financeur)
    return wire.LigneLot(
        **dict(body),
        entree=wire.Entree(date_entree=dossier.date_entree) if dossier.date_entree else None,
        sortie=_sortie(dossier.sortie) if dossier.sortie else None,
        solde=_solde(dossier.solde) if dossier.solde else None,
        annulation=_annulation(dossier.annulation) if dossier.annulation else None,
    )


def from_lot_line(line: bytes) -> AgoraDossier:
    """The dossier a lot line creates when AGORA accepts it: its final state."""
    content = json.loads(line)
    statut = next(
        (statut for stage, statut in _FINAL_STAGES if content.get(stage) is not None),
        Statut.VALIDE,
    )
    return from_wire(from_agora(wire.Dossier, {**content, "id_agora": "-", "statut": statut}))


# The stage of a lot line that decides its state, the last of the state machine first.
_FINAL_STAGES = (
    ("annulation", Statut.ANNULE),
    ("solde", Statut.SOLDE),
    ("sortie", Statut.SORTI),
    ("entree", Statut.ENTRE),
)


def _titulaire(t: Titulaire) -> wire.Titulaire:
    return wire.Titulaire(
        nir=t.nir,
        nom_naissance=t.nom_naissance,
        prenom=t.prenom,
        date_naissance=t.date_naissance,
        sexe=t.sexe,
    )


def _sortie(s: SortieAgora) -> wire.Sortie:
    return wire.Sortie(date_sortie=s.date, motif_sortie=s.motif)


def _solde(s: SoldeAgora) -> wire.Solde:
    return wire.Solde(
        date_solde=s.date,
        heures_realisees_centre=s.heures_realisees_centre,
        heures_realisees_entreprise=s.heures_realisees_entreprise,
        taux_realisation=s.taux_realisation,
        taux_horaire_cents=s.taux_horaire_cents,
        cout_pedagogique_cents=s.cout_pedagogique_cents,
    )


def _annulation(a: AnnulationAgora) -> wire.Annulation:
    return wire.Annulation(date_annulation=a.date, motif_annulation=a.motif)


def _rectification(op: Rectifier) -> wire.Rectification:
    return wire.Rectification(
        titulaire=_titulaire(op.titulaire) if op.titulaire else None,
        date_entree=op.date_entree,
        date_sortie=op.sortie.date if op.sortie else None,
        motif_sortie=op.sortie.motif if op.sortie else None,
    )


def from_wire(d: wire.Dossier) -> AgoraDossier:
    """AGORA's view of a dossier in our model, to compare with what we meant to send."""
    return AgoraDossier(
        statut=d.statut,
        titulaire=Titulaire(
            nir=d.titulaire.nir,
            nom_naissance=d.titulaire.nom_naissance,
            prenom=d.titulaire.prenom,
            date_naissance=d.titulaire.date_naissance,
            sexe=d.titulaire.sexe,
        ),
        fige=_fige(d),
        date_entree=d.entree.date_entree if d.entree else None,
        sortie=SortieAgora(d.sortie.date_sortie, d.sortie.motif_sortie) if d.sortie else None,
        solde=_solde_from_wire(d.solde) if d.solde else None,
        annulation=AnnulationAgora(d.annulation.date_annulation, d.annulation.motif_annulation)
        if d.annulation
        else None,
    )


def _fige(d: wire.Dossier) -> Fige:
    certification = d.action.certification
    return Fige(
        reference_financeur=d.reference_financeur,
        dispositif=d.dispositif,
        niveau_entree=d.niveau_entree,
        siret=d.organisme.siret,
        action_numero=d.action.numero,
        formacode=d.action.formacode,
        certification=(certification.type, certification.code) if certification else None,
        session_numero=d.session.numero,
        session_debut=d.session.date_debut,
        session_fin=d.session.date_fin,
        duree_heures=d.session.duree_heures,
        date_validation=d.date_validation,
    )


def _solde_from_wire(s: wire.Solde) -> SoldeAgora:
    return SoldeAgora(
        date=s.date_solde,
        heures_realisees_centre=s.heures_realisees_centre,
        heures_realisees_entreprise=s.heures_realisees_entreprise,
        taux_realisation=s.taux_realisation,
        taux_horaire_cents=s.taux_horaire_cents,
        cout_pedagogique_cents=s.cout_pedagogique_cents,
    )
