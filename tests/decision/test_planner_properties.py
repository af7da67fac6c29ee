"""For any sequence of snapshot versions, whose fields fixed at creation move too, every
operation the planner sends is accepted by AGORA's model in turn and brings it to the newest
snapshot's state, never backwards, the fixed fields it lists as `non_transmis` aside; it
holds exactly when no sequence of AGORA operations could get there (checked by brute
force)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations

from hypothesis import given, settings

from agora_bridge.decision.dossier import (
    AgoraDossier,
    Annuler,
    Creer,
    Entrer,
    Fige,
    Operation,
    Rectifier,
    Refus,
    Solder,
    Sortir,
    apply,
)
from agora_bridge.decision.planner import path, plan, project
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.validation import check_rules
from tests.builders import TODAY
from tests.strategies import histories


def reached(state: AgoraDossier | None, target: AgoraDossier) -> bool:
    """AGORA holds what the snapshot says (the fields fixed at creation aside)."""
    return state is not None and replace(state, fige=target.fige) == target


def candidate_operations(state: AgoraDossier | None, target: AgoraDossier) -> Iterator[Operation]:
    if state is None:
        yield Creer(target.titulaire, target.fige)
    if target.date_entree is not None:
        yield Entrer(target.date_entree)
    if target.sortie is not None:
        yield Sortir(target.sortie)
    if target.solde is not None:
        yield Solder(target.solde)
    if target.annulation is not None:
        yield Annuler(target.annulation)
    fixes = {
        "titulaire": target.titulaire,
        "date_entree": target.date_entree,
        "sortie": target.sortie,
    }
    available = [name for name, value in fixes.items() if value is not None]
    for size in range(1, len(available) + 1):
        for names in combinations(available, size):
            yield Rectifier(**{name: fixes[name] for name in names})  # type: ignore[arg-type]


def reachable(start: AgoraDossier | None, target: AgoraDossier) -> bool:
    """Breadth-first search over every operation AGORA could accept."""
    queue: deque[tuple[AgoraDossier | None, int]] = deque([(start, 0)])
    seen: set[AgoraDossier | None] = {start}
    while queue:
        state, depth = queue.popleft()
        if reached(state, target):
            return True
        if depth == 6:
            continue
        for op in candidate_operations(state, target):
            try:
                following = apply(state, op, today=TODAY)
            except Refus:
                continue
            if following not in seen:
                seen.add(following)
                queue.append((following, depth + 1))
    return False


def as_sent(target: AgoraDossier, held: Fige, non_transmis: tuple[str, ...]) -> AgoraDossier:
    """The target with the fixed fields AGORA cannot take as AGORA keeps them."""
    kept = {name: getattr(held, name) for name in non_transmis}
    return replace(target, fige=replace(target.fige, **kept))


@settings(max_examples=400, deadline=None)
@given(histories())
def test_operations_bring_agora_to_the_newest_snapshot_never_backwards(
    history: list[Snapshot],
) -> None:
    acknowledged: AgoraDossier | None = None
    for s in history:
        assert list(check_rules(s, today=TODAY)) == []  # only valid snapshots are planned
        result = plan(acknowledged, s, today=TODAY)
        target = project(s)
        if result.retenue is not None:
            assert result.operations == ()
            assert not reachable(acknowledged, target), result.retenue
            continue
        state = acknowledged
        for op in result.operations:
            state = apply(state, op, today=TODAY)  # AGORA's model accepts every step
        assert state is not None
        assert state == as_sent(target, state.fige, result.non_transmis)
        assert all(getattr(state.fige, n) != getattr(target.fige, n) for n in result.non_transmis)
        if acknowledged is not None:
            assert acknowledged.statut in path(state), "AGORA never goes backwards"
        acknowledged = state
