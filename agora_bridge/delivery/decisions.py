"""The one place the engine calls the pure decision core: adapting to a change of `plan` or
`apply` (a `today` argument, more rules) is a change here only."""

from __future__ import annotations

from agora_bridge.decision.dossier import AgoraDossier, Operation, apply
from agora_bridge.decision.planner import Plan, plan_target
from agora_bridge.snapshots.validation import paris_today


def next_plan(acknowledged: AgoraDossier | None, target: AgoraDossier) -> Plan:
    """`plan` from the snapshot's projection `target` (`Context.target`, projected once).
    Today as the Région counts it: a step dated after it is held (REFUS_PREVU_DATE_FUTURE),
    not sent to be refused."""
    return plan_target(acknowledged, target, today=paris_today())


def acknowledge(acknowledged: AgoraDossier | None, op: Operation) -> AgoraDossier:
    """The dossier AGORA holds after accepting `op`; raises `Refus` when our model disagrees
    with AGORA (the engine then reads AGORA's dossier back)."""
    return apply(acknowledged, op)
