"""Synthetic dossiers with all their versions: VALIDE, then ENTRE, SORTI and SOLDE, one
version each, as the Région's system sends them over a dossier's life (the sync benchmark).

Pure and seeded like `generate`: each version is a valid, in-perimeter, sendable snapshot.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

from agora_bridge.synthetic import _NEXT_STEP, CUTOFF, _check_today, _date_maj, _line, _new_dossier
from agora_bridge.synthetic.catalogue import ACTIONS
from agora_bridge.synthetic.reference import pick


def dossier_versions(rng: random.Random, index: int, today: date) -> list[str]:
    """The JSON lines of one dossier's four versions, oldest first."""
    r = rng.random
    act = pick(r, ACTIONS)
    first, last = CUTOFF.toordinal(), today.toordinal()
    d = _new_dossier(rng, act, index, first + int(r() * (last - first + 1)), last)
    d["date_maj"] = _date_maj(r, d["date_validation"], 1)
    lines = [_line(d, act)]
    while d["statut"] in _NEXT_STEP:
        latest = _NEXT_STEP[d["statut"]](r, d, act, last)
        d["version"] += 1
        d["date_maj"] = _date_maj(r, latest, d["version"])
        lines.append(_line(d, act))
    return lines


def histories(
    dossiers: int, *, seed: int, today: date, first_index: int = 1
) -> Iterator[list[str]]:
    """`dossiers` dossiers' versions; `first_index` keeps two calls' ids apart."""
    _check_today(today)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, no secret
    for index in range(first_index, first_index + dossiers):
        yield dossier_versions(rng, index, today)
