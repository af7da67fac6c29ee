"""AGORA's model: what `apply` accepts, and which refusal comes first (agora-v2.md's order:
the body alone → existence → the state machine → the rules reading the dossier → 409)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Operation,
    Rectifier,
    Refus,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    apply,
)
from agora_bridge.decision.planner import project
from agora_bridge.snapshots.model import Statut
from tests.builders import TODAY, snapshot

DAY = timedelta(days=1)
# The builder's dossier: session 2019-03-04 → 2019-09-27 of 840 h, validated 2019-02-20.
SESSION_START, SESSION_END = date(2019, 3, 4), date(2019, 9, 27)
VALIDATED = date(2019, 2, 20)
EXIT = SortieAgora(SESSION_END, "FIN_FORMATION")
# 800 + 40.5 of 840 hours: 100 %; 800 centre hours at 12.50 € an hour.
SOLDE = SoldeAgora(date(2019, 10, 10), Decimal(800), Decimal("40.5"), 100, 1250, 1_000_000)
CANCELLATION = AnnulationAgora(date(2019, 3, 1), "DESISTEMENT")
STEPS: dict[str, Operation] = {
    "entree": Entrer(SESSION_START),
    "sortie": Sortir(EXIT),
    "solde": Solder(SOLDE),
    "annulation": Annuler(CANCELLATION),
}


def agora(step: str = "VALIDE") -> AgoraDossier:
    """The builder's dossier as AGORA holds it in `step`."""
    return project(snapshot(step))


def refusal(dossier: AgoraDossier | None, op: Operation, today: date | None = TODAY) -> str:
    with pytest.raises(Refus) as refused:
        apply(dossier, op, today=today)
    return refused.value.code


# The mock's table (tests/mocks/test_transitions.py): "" accepted, else the code.
TABLE = {
    "VALIDE": {"entree": "", "sortie": "TI", "solde": "TI", "annulation": ""},
    "ENTRE": {"entree": "DEJA", "sortie": "", "solde": "TI", "annulation": ""},
    "SORTI": {"entree": "TI", "sortie": "DEJA", "solde": "", "annulation": "TI"},
    "SOLDE": {"entree": "TI", "sortie": "TI", "solde": "DEJA", "annulation": "TI"},
    "ANNULE": {"entree": "TI", "sortie": "TI", "solde": "TI", "annulation": "DEJA"},
}
CODES = {"TI": "TRANSITION_INVALIDE", "DEJA": "TRANSITION_DEJA_APPLIQUEE"}


@pytest.mark.parametrize(
    ("statut", "step", "expected"),
    [(statut, step, code) for statut, row in TABLE.items() for step, code in row.items()],
)
def test_the_transitions_table(statut: str, step: str, expected: str) -> None:
    dossier, op = agora(statut), STEPS[step]
    if expected:
        assert refusal(dossier, op) == CODES[expected]
    else:
        assert apply(dossier, op, today=TODAY).statut is not dossier.statut


def test_each_step_records_its_data_and_nothing_else() -> None:
    entered = apply(agora(), Entrer(SESSION_START), today=TODAY)
    assert entered == replace(agora(), statut=Statut.ENTRE, date_entree=SESSION_START)
    exited = apply(entered, Sortir(EXIT), today=TODAY)
    assert exited == replace(entered, statut=Statut.SORTI, sortie=EXIT)
    assert apply(exited, Solder(SOLDE), today=TODAY) == replace(
        exited, statut=Statut.SOLDE, solde=SOLDE
    )
    cancelled = apply(entered, Annuler(CANCELLATION), today=TODAY)
    assert cancelled == replace(entered, statut=Statut.ANNULE, annulation=CANCELLATION)


def test_a_creation_holds_what_it_carries() -> None:
    target = agora()
    assert apply(None, Creer(target.titulaire, target.fige), today=TODAY) == target


class TestWhatComesFirst:
    def test_a_repeat_agora_would_refuse_on_its_dates_is_refused_for_its_dates(self) -> None:
        # Finding 6: TRANSITION_DEJA_APPLIQUEE came before the date rules.
        assert refusal(agora("ENTRE"), Entrer(SESSION_END + DAY)) == "DATE_INCOHERENTE"
        late = Sortir(replace(EXIT, date=SESSION_END + DAY))
        assert refusal(agora("SORTI"), late) == "SORTIE_APRES_FIN_SESSION"
        early = Annuler(replace(CANCELLATION, date=VALIDATED - DAY))
        assert refusal(agora("ANNULE"), early) == "DATE_INCOHERENTE"

    def test_a_repeat_with_other_valid_values_is_already_applied(self) -> None:
        assert refusal(agora("ENTRE"), Entrer(SESSION_START + DAY)) == "TRANSITION_DEJA_APPLIQUEE"

    def test_a_future_date_is_refused_before_the_dossier_is_looked_up(self) -> None:
        assert refusal(None, Entrer(TODAY + DAY)) == "DATE_FUTURE"
        assert refusal(agora("SOLDE"), Rectifier(date_entree=TODAY + DAY)) == "DATE_FUTURE"
        existing = agora()
        future = replace(existing.fige, date_validation=TODAY + DAY)
        assert refusal(existing, Creer(existing.titulaire, future)) == "DATE_FUTURE"

    def test_today_is_not_the_future_and_none_judges_no_date(self) -> None:
        entered = apply(agora(), Entrer(SESSION_START), today=TODAY)
        assert apply(entered, Annuler(replace(CANCELLATION, date=TODAY)), today=TODAY).annulation
        assert refusal(None, Entrer(TODAY + DAY), today=None) == "DOSSIER_INCONNU"

    def test_the_state_machine_comes_before_the_rules_reading_the_dossier(self) -> None:
        assert refusal(agora("ENTRE"), Solder(replace(SOLDE, cout_pedagogique_cents=1))) == (
            "TRANSITION_INVALIDE"
        )
        late = Sortir(replace(EXIT, date=SESSION_END + DAY))
        assert refusal(agora(), late) == "TRANSITION_INVALIDE"

    def test_a_creation_with_its_session_upside_down_is_refused_before_the_existing_one(
        self,
    ) -> None:
        existing = agora()
        upside_down = replace(existing.fige, session_debut=SESSION_END + DAY)
        assert refusal(existing, Creer(existing.titulaire, upside_down)) == "DATE_INCOHERENTE"
        assert refusal(existing, Creer(existing.titulaire, existing.fige)) == "DOSSIER_EXISTANT"

    def test_steps_on_an_unknown_dossier(self) -> None:
        for op in STEPS.values():
            assert refusal(None, op) == "DOSSIER_INCONNU"
        assert refusal(None, Rectifier(date_entree=SESSION_START)) == "DOSSIER_INCONNU"


class TestTheSettlement:
    def test_a_wrong_rate_or_cost_is_refused(self) -> None:
        exited = agora("SORTI")
        assert refusal(exited, Solder(replace(SOLDE, taux_realisation=99))) == "COUT_INCOHERENT"
        wrong_cost = replace(SOLDE, cout_pedagogique_cents=1_000_001)
        assert refusal(exited, Solder(wrong_cost)) == "COUT_INCOHERENT"

    def test_the_rate_is_read_against_the_duration_agora_holds(self) -> None:
        exited = agora("SORTI")
        longer = replace(exited, fige=replace(exited.fige, duree_heures=Decimal(1000)))
        assert refusal(longer, Solder(SOLDE)) == "COUT_INCOHERENT"  # 84 %, not 100 %
        assert apply(longer, Solder(replace(SOLDE, taux_realisation=84)), today=TODAY).solde

    def test_the_date_comes_before_the_cost(self) -> None:
        early = replace(SOLDE, date=SESSION_END - DAY, cout_pedagogique_cents=1)
        assert refusal(agora("SORTI"), Solder(early)) == "DATE_INCOHERENTE"

    def test_a_settlement_on_the_day_of_the_exit_is_accepted(self) -> None:
        same_day = replace(SOLDE, date=SESSION_END)
        assert apply(agora("SORTI"), Solder(same_day), today=TODAY).solde == same_day

    def test_a_repeated_settlement_is_judged_before_it_is_already_applied(self) -> None:
        settled = agora("SOLDE")
        assert refusal(settled, Solder(SOLDE)) == "TRANSITION_DEJA_APPLIQUEE"
        wrong = Solder(replace(SOLDE, taux_realisation=50))
        assert refusal(settled, wrong) == "COUT_INCOHERENT"


class TestTheDates:
    @pytest.mark.parametrize("day", [SESSION_START, SESSION_END])
    def test_an_entry_on_either_end_of_the_session(self, day: date) -> None:
        assert apply(agora(), Entrer(day), today=TODAY).date_entree == day

    @pytest.mark.parametrize("day", [SESSION_START - DAY, SESSION_END + DAY])
    def test_an_entry_outside_the_session(self, day: date) -> None:
        assert refusal(agora(), Entrer(day)) == "DATE_INCOHERENTE"

    def test_an_exit_before_the_entry(self) -> None:
        entered = apply(agora(), Entrer(SESSION_START + 10 * DAY), today=TODAY)
        early = Sortir(replace(EXIT, date=SESSION_START + 9 * DAY))
        assert refusal(entered, early) == "DATE_INCOHERENTE"
        same_day = Sortir(replace(EXIT, date=SESSION_START + 10 * DAY))
        assert apply(entered, same_day, today=TODAY).statut == "SORTI"

    def test_a_cancellation_on_the_validation_day_but_not_before(self) -> None:
        on_the_day = Annuler(replace(CANCELLATION, date=VALIDATED))
        assert apply(agora(), on_the_day, today=TODAY).statut == "ANNULE"
        early = Annuler(replace(CANCELLATION, date=VALIDATED - DAY))
        assert refusal(agora(), early) == "DATE_INCOHERENTE"


class TestTheRectification:
    def test_an_empty_one_is_malformed_before_anything_else(self) -> None:
        assert refusal(None, Rectifier()) == "FORMAT_INVALIDE"

    def test_what_may_change_in_which_state(self) -> None:
        holder = agora().titulaire
        assert refusal(agora("SOLDE"), Rectifier(titulaire=holder)) == "DOSSIER_SOLDE"
        assert refusal(agora("ANNULE"), Rectifier(titulaire=holder)) == "TRANSITION_INVALIDE"
        assert refusal(agora(), Rectifier(date_entree=SESSION_START)) == "TRANSITION_INVALIDE"
        assert refusal(agora("ENTRE"), Rectifier(sortie=EXIT)) == "TRANSITION_INVALIDE"
        renamed = replace(holder, prenom="PAUL")
        assert apply(agora(), Rectifier(titulaire=renamed), today=TODAY).titulaire == renamed

    def test_a_new_entry_date_is_checked_against_the_session_and_the_exit(self) -> None:
        exited = agora("SORTI")
        assert refusal(exited, Rectifier(date_entree=SESSION_START - DAY)) == "DATE_INCOHERENTE"
        entered_late = apply(agora("ENTRE"), Rectifier(date_entree=SESSION_END), today=TODAY)
        assert entered_late.date_entree == SESSION_END
        moved = apply(exited, Rectifier(date_entree=SESSION_START + DAY), today=TODAY)
        assert moved == replace(exited, date_entree=SESSION_START + DAY)
        early_exit = apply(exited, Rectifier(sortie=replace(EXIT, date=SESSION_START + DAY)))
        after_exit = Rectifier(date_entree=SESSION_START + 2 * DAY)
        assert refusal(early_exit, after_exit) == "DATE_INCOHERENTE"

    def test_a_new_exit_is_checked_against_the_session_end_and_the_entry(self) -> None:
        exited = agora("SORTI")
        late = Rectifier(sortie=replace(EXIT, date=SESSION_END + DAY))
        assert refusal(exited, late) == "SORTIE_APRES_FIN_SESSION"
        entered_late = apply(exited, Rectifier(date_entree=SESSION_START + 5 * DAY))
        early = Rectifier(sortie=replace(EXIT, date=SESSION_START + 4 * DAY))
        assert refusal(entered_late, early) == "DATE_INCOHERENTE"
        both = Rectifier(date_entree=SESSION_START + 4 * DAY, sortie=early.sortie)
        assert apply(entered_late, both, today=TODAY).sortie == early.sortie
