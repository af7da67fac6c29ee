"""The runs of `reconcile`, kept as counts: the ops status shows the last one from here,
without reading AGORA (`last_run`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.reconciliation.report import Report
from agora_bridge.storage.models import Reconciliation

_COUNTS = ("mode", "graine", "lus", "conformes", "ecarts", "absents", "occupes", "echecs")


async def record(
    session: AsyncSession, report: Report, *, started_at: datetime, finished_at: datetime
) -> None:
    """The run's counts; the caller commits."""
    counts = {key: value for key, value in report.as_json().items() if key in _COUNTS}
    await session.execute(
        insert(Reconciliation).values(
            **counts,
            interrompu=report.interrompu,
            started_at=started_at,
            finished_at=finished_at,
        )
    )


async def last_run(session: AsyncSession) -> dict[str, Any] | None:
    """The latest run's counts and times (`Report.as_json` without the dossiers), or None
    before the first run. For the ops status: one indexed row, no call to AGORA."""
    statement = select(Reconciliation).order_by(Reconciliation.finished_at.desc()).limit(1)
    run = (await session.execute(statement)).scalar_one_or_none()
    if run is None:
        return None
    return {
        **{key: getattr(run, key) for key in _COUNTS},
        "interrompu": run.interrompu,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
    }
