"""Drift: which fields of a dossier AGORA holds differ from what it last acknowledged to us.

Pure, in the model's own terms (`decision/dossier.py`), so that `reconcile` reports the same
names the planner reasons with. Only names: the values may be personal data.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from agora_bridge.decision.dossier import AgoraDossier

# The titulaire is compared whole: its parts are personal data, and the acknowledged state
# keeps only a digest of it, so which part changed cannot be known anyway.
WHOLE = frozenset({"titulaire"})


def differences(acknowledged: AgoraDossier, held: AgoraDossier) -> tuple[str, ...]:
    """The dotted names of the fields that differ (`fige.session_fin`, `sortie.motif`), in
    declaration order; a step present on one side only is named once (`sortie`)."""
    return tuple(_differences(acknowledged, held, ""))


def _differences(ours: Any, theirs: Any, prefix: str) -> list[str]:
    names: list[str] = []
    for field in fields(ours):
        name = prefix + field.name
        a, b = getattr(ours, field.name), getattr(theirs, field.name)
        if a == b:
            continue
        if field.name in WHOLE or not _comparable(a, b):
            names.append(name)
        else:
            names.extend(_differences(a, b, name + "."))
    return names


def _comparable(a: Any, b: Any) -> bool:
    """Both sides hold the same kind of record: compared field by field."""
    return is_dataclass(a) and not isinstance(a, type) and type(a) is type(b)
