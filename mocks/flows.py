"""The synchronous flows of agora-v2.md (1-8), in the spec's order of checks.

Format (400) → rules that read only the body (422) → existence (404) → the state machine
(422 TRANSITION_INVALIDE) → rules that read the dossier (422) → conflicts (409) → apply.
A rule such as "the entry within the session dates" needs the dossier, so it can only come
after the 404; everything that can be judged from the body comes before it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mocks.idempotency import json_fingerprint
from mocks.models import (
    Annulation,
    Creation,
    Entree,
    LigneLot,
    Recherche,
    Rectification,
    Solde,
    Sortie,
    format_errors,
    recherche_errors,
    rectification_errors,
)
from mocks.problems import (
    DOSSIER_EXISTANT,
    DOSSIER_INCONNU,
    DOSSIER_SOLDE,
    TRANSITION_DEJA_APPLIQUEE,
    TRANSITION_INVALIDE,
    Erreur,
    Probleme,
    rejection,
)
from mocks.rules import (
    annulation_errors,
    creation_errors,
    entree_errors,
    future_errors,
    solde_errors,
    sortie_errors,
    titulaire_errors,
)
from mocks.store import ANNULE, ENTRE, SOLDE, SORTI, VALIDE, Dossier, Evenement, compact

if TYPE_CHECKING:
    from mocks.state import MockState

M = TypeVar("M", bound=BaseModel)
Step = Entree | Sortie | Solde | Annulation

# step → (its body, the states it applies to, the state it leads to, its historique name)
TRANSITIONS: dict[str, tuple[type[Step], frozenset[str], str, str]] = {
    "entree": (Entree, frozenset({VALIDE}), ENTRE, "ENTREE"),
    "sortie": (Sortie, frozenset({ENTRE}), SORTI, "SORTIE"),
    "solde": (Solde, frozenset({SORTI}), SOLDE, "SOLDE"),
    "annulation": (Annulation, frozenset({VALIDE, ENTRE}), ANNULE, "ANNULATION"),
}
# PATCH: which field may change in which state.
RECTIFIABLE = {
    "titulaire": frozenset({VALIDE, ENTRE, SORTI}),
    "date_entree": frozenset({ENTRE, SORTI}),
    "date_sortie": frozenset({SORTI}),
    "motif_sortie": frozenset({SORTI}),
}


def parse(model: type[M], body: bytes | str) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise rejection(400, format_errors(error), "corps de requête invalide") from None


def require_format(erreurs: list[Erreur]) -> None:
    if erreurs:
        raise rejection(400, erreurs, "corps de requête invalide")


def require_rules(erreurs: list[Erreur]) -> None:
    if erreurs:
        raise rejection(422, erreurs, "règle métier non respectée")


def find(state: MockState, id_agora: str) -> Dossier:
    dossier = state.store.get(id_agora)
    if dossier is None:
        raise Probleme(404, DOSSIER_INCONNU, f"aucun dossier {id_agora}")
    return dossier


def event(
    state: MockState, operation: str, request_id: str | None, champs: tuple[str, ...] = ()
) -> Evenement:
    return Evenement(operation, state.clock(), request_id, champs=champs)


def rechercher(state: MockState, body: bytes) -> dict[str, Any]:
    recherche = parse(Recherche, body)
    require_format(recherche_errors(recherche))
    if recherche.reference_financeur is not None:
        found = state.store.by_reference(recherche.reference_financeur)
    else:
        found = state.store.by_nir_session(recherche.nir or "", recherche.numero_session or "")
    return {"resultats": [dossier.resultat() for dossier in found]}


def creer(
    state: MockState, *, client_id: str, key: str, body: bytes, request_id: str | None
) -> dict[str, str]:
    fingerprint = json_fingerprint("POST /dossiers", body)
    replayed = state.keys.replay(client_id, key, fingerprint)
    if replayed is not None:
        state.stats.rejeux_idempotents += 1
        return {"id_agora": replayed, "statut": VALIDE}
    creation = parse(Creation, body)
    require_rules(creation_errors(creation, state.today()))
    existing = state.store.existing(creation.code_financeur, creation.reference_financeur)
    if existing is not None:
        state.stats.creations_refusees_existant += 1
        raise Probleme(
            409,
            DOSSIER_EXISTANT,
            "un dossier existe pour ce (code_financeur, reference_financeur)",
            extra={"id_agora": existing.id_agora},
        )
    dossier = state.store.add(creation)
    dossier.historique.append(event(state, "CREATION", request_id))
    # Stored only now: a request that failed can be retried with its key.
    state.keys.remember(client_id, key, fingerprint, dossier.id_agora)
    return {"id_agora": dossier.id_agora, "statut": VALIDE}


def transition(
    state: MockState, *, id_agora: str, step: str, body: bytes, request_id: str | None
) -> dict[str, str]:
    model, sources, target, operation = TRANSITIONS[step]
    parsed = parse(model, body)
    require_rules(future_errors(step_dates(parsed), state.today()))
    dossier = find(state, id_agora)
    if dossier.statut != target and dossier.statut not in sources:
        detail = f"{operation} impossible sur un dossier {dossier.statut}"
        raise Probleme(422, TRANSITION_INVALIDE, detail)
    require_rules(step_errors(dossier, parsed))
    if dossier.statut == target:
        state.stats.transitions_deja_appliquees += 1
        raise Probleme(
            409,
            TRANSITION_DEJA_APPLIQUEE,
            f"le dossier est déjà {target}",
            extra={"dossier": dossier.to_json()},
        )
    set_step(dossier, step, parsed)
    dossier.statut = target
    dossier.historique.append(event(state, operation, request_id))
    return {"statut": target}


def step_dates(step: Step) -> list[tuple[str, date | None]]:
    """The dates of a step that must not be in the future."""
    name = {
        Entree: "date_entree",
        Sortie: "date_sortie",
        Solde: "date_solde",
        Annulation: "date_annulation",
    }[type(step)]
    day: date = getattr(step, name)
    return [(name, day)]


def step_errors(dossier: Dossier, step: Step) -> list[Erreur]:
    """The rules that read the dossier; it is in the step's source or target state."""
    cadre = dossier.cadre
    match step:
        case Entree(date_entree=day):
            return entree_errors(cadre, day)
        case Sortie(date_sortie=day):
            return sortie_errors(cadre, _known(dossier.date_entree), day)
        case Solde():
            return solde_errors(cadre, _known(dossier.date_sortie), step)
        case Annulation(date_annulation=day):
            return annulation_errors(cadre, day)
    raise TypeError(step)


def _known(day: date | None) -> date:
    # ENTRE and later always have an entry date, SORTI and later an exit date.
    assert day is not None
    return day


def set_step(dossier: Dossier, step: str, body: Step) -> None:
    """Record a step's data (a transition, or a rectification of it)."""
    dossier.steps[step] = compact(body)
    if isinstance(body, Entree):
        dossier.date_entree = body.date_entree
    elif isinstance(body, Sortie):
        dossier.date_sortie = body.date_sortie


def rectifier(
    state: MockState, *, id_agora: str, body: bytes, request_id: str | None
) -> dict[str, Any]:
    rectification = parse(Rectification, body)
    require_format(rectification_errors(rectification))
    require_rules(_rectification_body_errors(rectification, state.today()))
    dossier = find(state, id_agora)
    _require_rectifiable(dossier, rectification)
    entree = rectification.date_entree or dossier.date_entree
    erreurs = []
    if rectification.date_entree is not None:
        erreurs += entree_errors(dossier.cadre, rectification.date_entree)
    if dossier.statut == SORTI and (rectification.date_entree or rectification.date_sortie):
        sortie = rectification.date_sortie or dossier.date_sortie
        erreurs += sortie_errors(dossier.cadre, _known(entree), _known(sortie))
    require_rules(erreurs)
    _apply_rectification(state, dossier, rectification)
    champs = tuple(sorted(rectification.model_fields_set))
    dossier.historique.append(event(state, "RECTIFICATION", request_id, champs))
    return dossier.to_json()


def _rectification_body_errors(rectification: Rectification, today: date) -> list[Erreur]:
    erreurs = []
    if rectification.titulaire is not None:
        erreurs += titulaire_errors(rectification.titulaire)
    dates = [("date_entree", rectification.date_entree), ("date_sortie", rectification.date_sortie)]
    return erreurs + future_errors(dates, today)


def _require_rectifiable(dossier: Dossier, rectification: Rectification) -> None:
    if dossier.statut == SOLDE:
        raise Probleme(422, DOSSIER_SOLDE, "un dossier soldé ne se rectifie plus")
    refused = [
        Erreur(name, TRANSITION_INVALIDE, f"non rectifiable sur un dossier {dossier.statut}")
        for name in sorted(rectification.model_fields_set)
        if dossier.statut not in RECTIFIABLE[name]
    ]
    if refused:
        raise rejection(422, refused, f"rectification impossible en {dossier.statut}")


def _apply_rectification(state: MockState, dossier: Dossier, rectification: Rectification) -> None:
    if rectification.titulaire is not None:
        state.store.replace_titulaire(dossier, rectification.titulaire)
    if rectification.date_entree is not None:
        set_step(dossier, "entree", Entree(date_entree=rectification.date_entree))
    if rectification.date_sortie is not None or rectification.motif_sortie is not None:
        current = Sortie.model_validate_json(dossier.steps["sortie"])
        changes = rectification.model_dump(include={"date_sortie", "motif_sortie"})
        set_step(dossier, "sortie", current.model_copy(update=_given(changes)))


def _given(changes: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in changes.items() if value is not None}


def create_final(
    state: MockState,
    ligne: LigneLot,
    *,
    at: datetime,
    request_id: str | None,
    id_lot: str | None,
) -> Dossier:
    """The dossier of an accepted lot line, directly in its final state."""
    steps = [
        (step, compact(body), target, operation)
        for step, (_, _, target, operation) in TRANSITIONS.items()
        if (body := getattr(ligne, step)) is not None
    ]
    # Everything that can fail is done: from here on the store only takes what was computed,
    # so that a line never leaves a dossier half made.
    dossier = state.store.add(ligne)
    dossier.historique.append(Evenement("CREATION", at, request_id, id_lot))
    for step, stored, target, operation in steps:
        dossier.steps[step] = stored
        dossier.statut = target
        dossier.historique.append(Evenement(operation, at, request_id, id_lot))
    dossier.date_entree = ligne.entree.date_entree if ligne.entree else None
    dossier.date_sortie = ligne.sortie.date_sortie if ligne.sortie else None
    return dossier
