"""What `reconcile` found: counts, and each drifted dossier by its ids and field names only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Exit statuses of `agora-bridge reconcile` (2 is an operator error, as for every command).
SANS_ECART, ECARTS, INCOMPLET = 0, 1, 3


@dataclass(frozen=True, slots=True)
class Ecart:
    """A dossier AGORA holds otherwise than it acknowledged, handed to the engine."""

    id_dossier: str  # our id, which is AGORA's reference_financeur
    id_agora: str
    champs: tuple[str, ...]  # `decision.drift` names; empty when the dossier is absent
    absent: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id_dossier": self.id_dossier,
            "id_agora": self.id_agora,
            "absent": self.absent,
            "champs": list(self.champs),
        }


@dataclass(slots=True)
class Report:
    mode: str  # "echantillon" or "tout"
    graine: int | None = None  # the sample's seed: the same seed draws the same sample
    lus: int = 0  # dossiers read on AGORA (absent ones included)
    conformes: int = 0
    # Not compared: a pass of the engine held the dossier, or its acknowledged state changed
    # while AGORA was read (the engine is at work on it; the next run compares it).
    occupes: int = 0
    echecs: Counter[str] = field(default_factory=Counter)  # reads that failed, by code
    interrompu: bool = False  # AGORA kept failing: the run stopped early
    ecarts: list[Ecart] = field(default_factory=list)

    @property
    def absents(self) -> int:
        return sum(1 for ecart in self.ecarts if ecart.absent)

    @property
    def exit_status(self) -> int:
        if self.ecarts:
            return ECARTS
        if self.echecs or self.interrompu:
            return INCOMPLET
        return SANS_ECART

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "graine": self.graine,
            "lus": self.lus,
            "conformes": self.conformes,
            "ecarts": len(self.ecarts),
            "absents": self.absents,
            "occupes": self.occupes,
            "echecs": dict(sorted(self.echecs.items())),
            "interrompu": self.interrompu,
            "dossiers": [ecart.as_json() for ecart in self.ecarts],
        }
