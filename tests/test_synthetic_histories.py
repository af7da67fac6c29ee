"""Synthetic dossier histories (the sync benchmark's input): every version valid and sendable,
each one step further along AGORA's states than the one before."""

from __future__ import annotations

import itertools

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import interface_agora
from agora_bridge.synthetic import CUTOFF
from agora_bridge.synthetic.histories import histories
from tests.test_synthetic import (
    IN_PERIMETER,
    STATUT_ORDER,
    TODAY,
    broken_rules,
    dates_of,
    required_by_statut,
)


def parsed(dossiers: int, seed: int = 0, first_index: int = 1) -> list[list[Snapshot]]:
    found = histories(dossiers, seed=seed, today=TODAY, first_index=first_index)
    return [[Snapshot.model_validate_json(line) for line in versions] for versions in found]


def test_each_version_is_valid_and_sendable() -> None:
    for versions in parsed(500):
        for s in versions:
            assert broken_rules(s) == [], s.id_dossier
            assert required_by_statut(s), s.id_dossier
            assert s.programme.categorie in IN_PERIMETER
            assert interface_agora(s.programme)
            assert s.entry_date >= CUTOFF
            assert max(dates_of(s)) <= TODAY


def test_versions_walk_every_state_in_order() -> None:
    for versions in parsed(500, seed=3):
        assert [s.statut for s in versions] == STATUT_ORDER
        assert [s.version for s in versions] == [1, 2, 3, 4]
        assert len({s.id_dossier for s in versions}) == 1
        assert all(a.date_maj < b.date_maj for a, b in itertools.pairwise(versions))
        assert all(s.stagiaire == versions[0].stagiaire for s in versions)


def test_first_index_keeps_two_calls_apart() -> None:
    first = {versions[0].id_dossier[-7:] for versions in parsed(50)}
    second = {versions[0].id_dossier[-7:] for versions in parsed(50, first_index=51)}
    assert len(first) == len(second) == 50
    assert not first & second


def test_same_seed_gives_the_same_lines() -> None:
    assert list(histories(50, seed=9, today=TODAY)) == list(histories(50, seed=9, today=TODAY))
