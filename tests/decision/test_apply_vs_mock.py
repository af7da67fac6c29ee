"""`apply()` predicts AGORA: the same operations, sent through the mock's own flows and given
to the model, meet the same first refusal or leave the same dossier.

The mock is the reference (`agora-v2.md`'s order of checks, implemented independently in
`mocks/flows.py`); the operations become wire bodies through `agora/mapping.py` and the
mock's dossier comes back through `mapping.from_wire`, as the sync engine will see it. The
dates straddle the session and today, and the settlements are often a cent or a point off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import body_for, from_wire
from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    Refus,
    SoldeAgora,
    Solder,
    SortieAgora,
    Sortir,
    Titulaire,
    apply,
)
from agora_bridge.snapshots.settlement import (
    COUT_MAX_CENTS,
    TAUX_HORAIRE_MAX_CENTS,
    cout_pedagogique_cents,
    taux_realisation,
)
from mocks import flows
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from mocks.problems import Probleme
from mocks.state import MockState
from tests.mocks.builders import NOW, TODAY
from tests.strategies import days

CODE_FINANCEUR = "REG52"
DAY = timedelta(days=1)
NEVER_GIVEN = "AG999999999999"  # the id a step is sent to before any creation succeeded
STEPS: dict[type[Operation], str] = {
    Entrer: "entree",
    Sortir: "sortie",
    Solder: "solde",
    Annuler: "annulation",
}
# Valid NIRs agreeing with sex and birth month: NIR checks are not the model's concern.
TITULAIRES = (
    Titulaire("1850578006084", "DUPONT", "JEAN", date(1985, 5, 12), "M"),
    Titulaire("1850544109123", "MARTIN", "JEAN-PAUL", date(1985, 5, 3), "M"),
)
SIRETS = ("73282932000074", "35600000049837")


def any_day(anchors: tuple[date, ...]) -> st.SearchStrategy[date]:
    """Around the session, on and next to the dates the rules compare, or around today."""
    near_session = days(date(2019, 2, 1), date(2019, 10, 31))
    edges = st.sampled_from(anchors).flatmap(lambda day: days(day - DAY, day + DAY))
    near_today = days(TODAY - 2 * DAY, TODAY + 2 * DAY)
    return st.one_of(near_session, edges, edges, edges, near_today)


def hours() -> st.SearchStrategy[Decimal]:
    # Mostly below a session's length, so that the completion rate is not always capped.
    cents = st.one_of(st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 999_999))
    return cents.map(lambda n: Decimal(n) / 100)


@st.composite
def figes(draw: st.DrawFn) -> Fige:
    return Fige(
        reference_financeur="PDL-2019-0001234",
        dispositif="VISA_METIERS",
        niveau_entree="3",
        siret=draw(st.sampled_from(SIRETS)),
        action_numero="20_1262663",
        formacode="31812",
        certification=("RNCP", "RNCP35000"),
        session_numero="1330305",
        session_debut=draw(days(date(2019, 3, 1), date(2019, 3, 10))),
        session_fin=draw(days(date(2019, 9, 20), date(2019, 9, 30))),
        duree_heures=draw(st.sampled_from([Decimal("840"), Decimal("35.5"), Decimal("0.01")])),
        date_validation=draw(days(date(2019, 2, 10), date(2019, 3, 5))),
    )


@st.composite
def creations(draw: st.DrawFn, fige: Fige) -> Creer:
    """The dossier's creation, or one AGORA refuses on its body alone."""
    broken = draw(st.sampled_from(["none", "none", "future", "session"]))
    if broken == "future":
        fige = replace(fige, date_validation=TODAY + DAY)
    elif broken == "session":
        fige = replace(fige, session_debut=fige.session_fin + DAY)
    return Creer(draw(st.sampled_from(TITULAIRES)), fige)


def sometimes_wrong(draw: st.DrawFn, value: int, high: int) -> int:
    """`value` two times in three, else another value within the contract's bounds."""
    if draw(st.integers(0, 2)) > 0:
        return value
    return (value + draw(st.integers(1, high))) % (high + 1)


@st.composite
def soldes(draw: st.DrawFn, fige: Fige, day: st.SearchStrategy[date]) -> SoldeAgora:
    centre, entreprise = draw(hours()), draw(hours())
    taux_horaire = draw(st.integers(0, TAUX_HORAIRE_MAX_CENTS))
    taux = taux_realisation(centre + entreprise, fige.duree_heures)
    cout = cout_pedagogique_cents(centre, taux_horaire)
    return SoldeAgora(
        date=draw(day),
        heures_realisees_centre=centre,
        heures_realisees_entreprise=entreprise,
        taux_realisation=sometimes_wrong(draw, taux, 100),
        taux_horaire_cents=taux_horaire,
        cout_pedagogique_cents=sometimes_wrong(draw, cout, COUT_MAX_CENTS),
    )


def operations(fige: Fige, anchors: tuple[date, ...]) -> st.SearchStrategy[Operation]:
    day = any_day(anchors)
    after_all = days(max(anchors) - DAY, max(anchors) + 30 * DAY)  # a settlement's days
    sortie = st.builds(SortieAgora, day, st.sampled_from(["FIN_FORMATION", "ABANDON"]))
    rectification = st.builds(
        Rectifier,
        titulaire=st.none() | st.sampled_from(TITULAIRES),
        date_entree=day | st.none(),
        sortie=st.none() | sortie,
    ).filter(lambda op: op != Rectifier())  # an empty PATCH cannot even be written
    motif = st.sampled_from(["DESISTEMENT", "AUTRE"])
    # The operations carrying most rules first: hypothesis draws early branches more often.
    return st.one_of(
        rectification,
        st.builds(Solder, soldes(fige, st.one_of(day, after_all))),
        st.builds(Sortir, sortie),
        st.builds(Entrer, day),
        st.builds(Annuler, st.builds(AnnulationAgora, day, motif)),
        creations(fige),
    )


@st.composite
def accepted_history(draw: st.DrawFn, fige: Fige) -> list[Operation]:
    """Operations AGORA accepts, bringing a new dossier to any state (or none at all)."""
    # SORTI thrice: most rules apply there (exit, settlement, rectification of both dates).
    path = draw(st.sampled_from(["", "C", "CE", "CES", "CES", "CES", "CESL", "CA", "CEA"]))
    entry = draw(days(fige.session_debut, fige.session_fin))
    exit_day = draw(days(entry, fige.session_fin))
    settled = draw(soldes(fige, days(exit_day, exit_day + 30 * DAY)))
    done = settled.heures_realisees_centre + settled.heures_realisees_entreprise
    cout = cout_pedagogique_cents(settled.heures_realisees_centre, settled.taux_horaire_cents)
    steps: dict[str, Operation] = {
        "C": Creer(draw(st.sampled_from(TITULAIRES)), fige),
        "E": Entrer(entry),
        "S": Sortir(SortieAgora(exit_day, "FIN_FORMATION")),
        "L": Solder(
            replace(
                settled,
                taux_realisation=taux_realisation(done, fige.duree_heures),
                cout_pedagogique_cents=cout,
            )
        ),
        "A": Annuler(AnnulationAgora(draw(days(fige.date_validation, TODAY)), "AUTRE")),
    }
    return [steps[letter] for letter in path]


def anchors_of(fige: Fige, model: AgoraDossier | None) -> tuple[date, ...]:
    """The dates AGORA's rules compare the next operation with."""
    held = model.fige if model is not None else fige
    dates = [held.session_debut, held.session_fin, held.date_validation]
    if model is not None and model.date_entree is not None:
        dates.append(model.date_entree)
    if model is not None and model.sortie is not None:
        dates.append(model.sortie.date)
    return tuple(dates)


@dataclass
class Mock:
    """The mock AGORA's flows in process, on one dossier; today is `TODAY` for it too."""

    state: MockState
    id_agora: str = NEVER_GIVEN

    @classmethod
    def fresh(cls) -> Mock:
        state = MockState(
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            lot_delay_s=1.0,
            rate_limit=None,
            token_ttl_s=600,
            clock=lambda: NOW,
        )
        return cls(state)

    def send(self, op: Operation) -> str | None:
        """AGORA's error code, or None when it accepted the operation."""
        body = body_for(op, code_financeur=CODE_FINANCEUR).model_dump_json().encode()
        try:
            self._call(op, body)
        except Probleme as refused:
            return refused.code
        return None

    def _call(self, op: Operation, body: bytes) -> None:
        state, id_agora = self.state, self.id_agora
        if isinstance(op, Creer):
            key = str(uuid.uuid4())
            created = flows.creer(state, client_id="c", key=key, body=body, request_id=None)
            self.id_agora = created["id_agora"]
        elif isinstance(op, Rectifier):
            flows.rectifier(state, id_agora=id_agora, body=body, request_id=None)
        else:
            step = STEPS[type(op)]
            flows.transition(state, id_agora=id_agora, step=step, body=body, request_id=None)

    def dossier(self) -> AgoraDossier | None:
        found = self.state.store.get(self.id_agora)
        return None if found is None else from_wire(wire.from_agora(wire.Dossier, found.to_json()))


def next_op(fige: Fige, model: AgoraDossier | None) -> st.SearchStrategy[Operation]:
    return operations(fige, anchors_of(fige, model))


def predict(model: AgoraDossier | None, op: Operation) -> tuple[AgoraDossier | None, str | None]:
    try:
        return apply(model, op, today=TODAY), None
    except Refus as refused:
        return model, refused.code


@settings(max_examples=400, deadline=None)
@given(figes(), st.data())
def test_apply_refuses_and_accepts_exactly_as_the_mock(fige: Fige, data: st.DataObject) -> None:
    """A dossier brought to some state, then operations of any kind drawn near its dates."""
    mock, model = Mock.fresh(), None
    history = data.draw(accepted_history(fige))
    for number in range(len(history) + data.draw(st.integers(1, 4))):
        op = history[number] if number < len(history) else data.draw(next_op(fige, model))
        model, predicted = predict(model, op)
        answered = mock.send(op)
        assert answered == predicted, f"operation {number} ({type(op).__name__})"
        assert mock.dossier() == model, f"dossier after operation {number}"
