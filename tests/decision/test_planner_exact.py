"""Every field of the operations the planner builds, compared with objects written by hand.

Mutation testing found the planner's tests asserting a few fields each: a field copied from
the wrong place (the session's start for the validation date, the entreprise hours for the
centre's) went unnoticed. The expected values come from `tests/builders.py` and the spec.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Rectifier,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    Titulaire,
    apply,
)
from agora_bridge.decision.planner import Plan, plan, project
from agora_bridge.snapshots.model import Statut
from tests.builders import snapshot

TITULAIRE = Titulaire(
    nir="1850578006084",
    nom_naissance="DUPONT",
    prenom="JEAN",
    date_naissance=date(1985, 5, 12),
    sexe="M",
)
FIGE = Fige(
    reference_financeur="PDL-2019-0001234",
    dispositif="VISA_METIERS",
    niveau_entree="3",  # "V" in the old nomenclature
    siret="73282932000074",
    action_numero="20_1262663",
    formacode="31812",
    certification=("RNCP", "RNCP35000"),
    session_numero="1330305",
    session_debut=date(2019, 3, 4),
    session_fin=date(2019, 9, 27),
    duree_heures=Decimal(840),
    date_validation=date(2019, 2, 20),
)
SORTIE = SortieAgora(date(2019, 9, 27), "FIN_FORMATION")


def test_a_settled_dossier_is_created_then_taken_through_every_step() -> None:
    solde = SoldeAgora(
        date=date(2019, 10, 10),
        heures_realisees_centre=Decimal(800),
        heures_realisees_entreprise=Decimal("40.5"),
        taux_realisation=100,  # 840.5 h of 840, capped
        taux_horaire_cents=1250,
        cout_pedagogique_cents=1_000_000,  # 800 centre hours x 12.50 €; entreprise hours unpaid
    )
    expected = Plan(
        (Creer(TITULAIRE, FIGE), Entrer(date(2019, 3, 4)), Sortir(SORTIE), Solder(solde))
    )
    assert plan(None, snapshot("SOLDE")) == expected


def test_every_field_of_a_creation_comes_from_its_own_source() -> None:
    # Each value differs from the builder's, so a field read from the wrong place shows.
    s = snapshot(
        "VALIDE",
        id_dossier="PDL-2020-42",
        date_validation="2020-01-15",
        **{
            "stagiaire.nir": "2 99 12 2B 123 456 18",
            "stagiaire.nom_naissance": "Lefèvre",
            "stagiaire.prenom": "Zoé",
            "stagiaire.date_naissance": "1999-12-31",
            "stagiaire.sexe": "F",
            "stagiaire.niveau_entree": "Vbis",
            "programme.dispositif": "PREPA_AVENIR",
            "organisme.siret": "35600000049837",
            "action.numero": "AC-7",
            "action.formacode": None,
            "action.certification": {"type": "RS", "code": "RS5012"},
            "session.numero": "S-9",
            "session.date_debut": "2020-02-03",
            "session.date_fin": "2020-06-30",
            "session.duree_heures": "412.5",
        },
    )
    titulaire = Titulaire("299122B123456", "LEFEVRE", "ZOE", date(1999, 12, 31), "F")
    fige = Fige(
        reference_financeur="PDL-2020-42",
        dispositif="PREPA_AVENIR",
        niveau_entree="2",
        siret="35600000049837",
        action_numero="AC-7",
        formacode=None,
        certification=("RS", "RS5012"),
        session_numero="S-9",
        session_debut=date(2020, 2, 3),
        session_fin=date(2020, 6, 30),
        duree_heures=Decimal("412.5"),
        date_validation=date(2020, 1, 15),
    )
    assert plan(None, s) == Plan((Creer(titulaire, fige),))


def test_no_certification_and_no_formacode() -> None:
    s = snapshot(**{"action.certification": None, "action.formacode": None})
    expected = replace(FIGE, certification=None, formacode=None)
    assert plan(None, s) == Plan((Creer(TITULAIRE, expected),))


def test_a_partial_settlement_rounds_the_rate_down_and_the_cost_half_up() -> None:
    s = snapshot(
        "SOLDE",
        taux_horaire_cents=1333,
        **{
            "solde.date": "2019-10-11",
            "solde.heures_realisees_centre": "500.25",
            "solde.heures_realisees_entreprise": "20.5",
        },
    )
    expected = SoldeAgora(
        date=date(2019, 10, 11),
        heures_realisees_centre=Decimal("500.25"),
        heures_realisees_entreprise=Decimal("20.5"),
        taux_realisation=61,  # 100 x 520.75 / 840 = 61.99…
        taux_horaire_cents=1333,
        cout_pedagogique_cents=666_833,  # 500.25 x 1333 = 666,833.25
    )
    assert plan(None, s).operations[-1] == Solder(expected)


def test_half_a_cent_rounds_up() -> None:
    s = snapshot("SOLDE", taux_horaire_cents=1, **{"solde.heures_realisees_centre": "0.5"})
    solder = plan(None, s).operations[-1]
    assert isinstance(solder, Solder)
    assert solder.solde.cout_pedagogique_cents == 1
    assert solder.solde.taux_realisation == 4  # 100 x 41 / 840 = 4.88…


def test_a_cancellation_after_entry() -> None:
    s = snapshot(
        "ANNULE",
        date_entree="2019-03-05",
        annulation={"date": "2019-03-12", "motif": "SESSION_ANNULEE"},
    )
    annulation = AnnulationAgora(date(2019, 3, 12), "SESSION_ANNULEE")
    expected = Plan((Creer(TITULAIRE, FIGE), Entrer(date(2019, 3, 5)), Annuler(annulation)))
    assert plan(None, s) == expected


def test_the_projection_of_a_settled_dossier() -> None:
    target = project(snapshot("SOLDE"))
    assert (target.statut, target.titulaire, target.fige) == (Statut.SOLDE, TITULAIRE, FIGE)
    assert (target.date_entree, target.sortie, target.annulation) == (
        date(2019, 3, 4),
        SORTIE,
        None,
    )


def test_a_rectification_carries_exactly_what_changed() -> None:
    acknowledged: AgoraDossier | None = None
    for op in plan(None, snapshot("SORTI")).operations:
        acknowledged = apply(acknowledged, op)
    assert acknowledged is not None
    changed = snapshot(
        "SORTI",
        version=2,
        date_entree="2019-03-06",
        sortie={"date": "2019-09-20", "motif": "ABANDON"},
        **{"stagiaire.prenom": "Jean-Marie", "organisme.siret": "35600000049837"},
    )
    fix = Rectifier(
        titulaire=Titulaire("1850578006084", "DUPONT", "JEAN-MARIE", date(1985, 5, 12), "M"),
        date_entree=date(2019, 3, 6),
        sortie=SortieAgora(date(2019, 9, 20), "ABANDON"),
    )
    assert plan(acknowledged, changed) == Plan((fix,), non_transmis=("siret",))
