"""The backfill in process against the bundled mock (`tests/delivery/harness.py`'s bridge),
and what AGORA should hold after it, computed from the file independently of the backfill."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import from_wire
from agora_bridge.agora.schemas import from_agora
from agora_bridge.backfill.lots import Pacing
from agora_bridge.backfill.report import Report, load
from agora_bridge.backfill.reprise import Progress
from agora_bridge.backfill.run import Backfill, Observer, Options
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.planner import plan, project
from agora_bridge.delivery import acknowledged
from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import SENDABLE, Perimeter, classify
from agora_bridge.snapshots.reader import read_lines
from agora_bridge.snapshots.validation import Rejection, parse_line
from agora_bridge.storage.models import EtatAgora
from agora_bridge.synthetic import CUTOFF
from tests.builders import TODAY, snapshot_dict
from tests.delivery.harness import CODE_FINANCEUR, CRYPTO, Bridge

PERIMETER = Perimeter(DEFAULT_EXCLUDED)
FAST = Pacing(poll_s=0.02, poll_max_s=0.1, retry_base_s=0.01, retry_cap_s=0.1)


def options(**changes: Any) -> Options:
    values: dict[str, Any] = {
        "since": CUTOFF,
        "lot_size": 100,
        "code_financeur": CODE_FINANCEUR,
        "perimeter": PERIMETER,
        "batch_size": 250,
        "pacing": FAST,
    }
    return Options(**(values | changes))


async def backfill(
    bridge: Bridge, path: Path, *, observer: Observer | None = None, **changes: Any
) -> Report:
    run = Backfill(
        bridge.sessions,
        bridge.client,
        CRYPTO,
        options(**changes),
        today=TODAY,
        clock=lambda: datetime.now(UTC),
        observer=observer or Observer(),
    )
    progress: Progress = await run.run(path)
    async with bridge.sessions() as session:
        return await load(session, progress)


def newest(path: Path) -> dict[str, Snapshot]:
    """Each valid dossier's highest version (the first line wins a tie)."""
    found: dict[str, Snapshot] = {}
    for _, line in read_lines(path):
        parsed = parse_line(line, today=TODAY)
        if isinstance(parsed, Rejection):
            continue
        best = found.get(parsed.id_dossier)
        if best is None or parsed.version > best.version:
            found[parsed.id_dossier] = parsed
    return found


def expected_on_agora(path: Path, since: date = CUTOFF) -> dict[str, AgoraDossier]:
    """What AGORA must hold: the final state of each sendable dossier the planner sends."""
    return {
        key: project(s)
        for key, s in newest(path).items()
        if classify(s, PERIMETER, since=since) == SENDABLE and plan(None, s).retenue is None
    }


def write_lines(path: Path, dicts: Sequence[dict[str, Any]], tail: Sequence[str] = ()) -> Path:
    with path.open("a", encoding="utf-8") as out:
        for data in dicts:
            out.write(json.dumps(data) + "\n")
        for line in tail:
            out.write(line + "\n")
    return path


def dossier(step: str, key: str, **changes: Any) -> dict[str, Any]:
    return snapshot_dict(step, id_dossier=key, **changes)


async def assert_acknowledged_as_on_agora(bridge: Bridge, agora: dict[str, Any]) -> None:
    """Each acknowledged state stored (its JSON, its titulaire's digest) is the dossier AGORA
    holds: the engine plans the next step from it."""
    async with bridge.sessions() as session:
        stored = {e.id_dossier: e for e in await session.scalars(select(EtatAgora))}
    assert stored.keys() == agora.keys()
    for key, held in agora.items():
        on_agora = from_wire(from_agora(wire.Dossier, held))
        etat = stored[key]
        assert etat.id_agora == held["id_agora"], key
        assert acknowledged.decode(etat.acquitte, on_agora.titulaire) == on_agora, key
        assert etat.acquitte == acknowledged.encode(on_agora), key
        assert etat.titulaire_index == acknowledged.digest(on_agora.titulaire, CRYPTO), key
