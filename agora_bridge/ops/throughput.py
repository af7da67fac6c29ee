"""Throughput over time, derived from the audit ledger: entries per minute by kind and
outcome. No table of its own: the ledger already records each snapshot decision, each
AGORA outcome and each backfill lot outcome with its time, on every replica's behalf.

The ledger has no index on `recorded_at` (an index would slow every append of the engine
and the backfill); its ids grow with time, so the read is bounded to the last `TAIL`
entries by primary key, then filtered on time: cheap however long the ledger, at the price
of a truncated window when more than `TAIL` entries were written in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.backfill.packing import DEPOSE
from agora_bridge.storage.models import LedgerEntry

TAIL = 200_000
_MINUTE_FORMAT = "%Y-%m-%d %H:%M"


class Minute(BaseModel):
    """One minute (its start, UTC): snapshots received, AGORA calls that succeeded or
    failed (a transient failure or a rejection), backfill lots whose outcome came back."""

    minute: datetime
    recus: int = 0
    agora_reussites: int = 0
    agora_echecs: int = 0
    lots_reprise: int = 0


def _flow() -> ColumnElement[str | None]:
    outcome = LedgerEntry.kind == "agora.outcome"
    return case(
        (LedgerEntry.kind == "snapshot.decision", "recus"),
        # A lot's deposit is also a `lot.outcome`; only its final outcome counts here.
        (and_(LedgerEntry.kind == "lot.outcome", LedgerEntry.operation != DEPOSE), "lots_reprise"),
        (and_(outcome, LedgerEntry.http_status < 400), "agora_reussites"),
        (outcome, "agora_echecs"),
        else_=None,
    )


def _minute(dialect: str) -> ColumnElement[str]:
    """`YYYY-MM-DD HH:MM` in UTC. SQLite stores UTC instants as ISO text already."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", LedgerEntry.recorded_at)
        return func.to_char(utc, "YYYY-MM-DD HH24:MI")
    return func.substr(LedgerEntry.recorded_at, 1, 16)


async def per_minute(session: AsyncSession, *, since: datetime, until: datetime) -> list[Minute]:
    """Every minute from `since` to `until`, empty ones included (a chart's gaps are data)."""
    top = await session.scalar(select(func.max(LedgerEntry.id)))
    series = _empty(since, until)
    if top is None:
        return list(series.values())
    flow = _flow()
    statement = (
        select(_minute(session.get_bind().dialect.name), flow, func.count())
        .where(LedgerEntry.id > top - TAIL, LedgerEntry.recorded_at >= since, flow.is_not(None))
        # By position: the expressions carry bound parameters, which PostgreSQL would not
        # recognise as the same expression in GROUP BY.
        .group_by(text("1"), text("2"))
    )
    for minute, name, count in await session.execute(statement):
        start = datetime.strptime(minute, _MINUTE_FORMAT).replace(tzinfo=UTC)
        if start in series and name is not None:
            setattr(series[start], name, count)
    return list(series.values())


def _empty(since: datetime, until: datetime) -> dict[datetime, Minute]:
    first = since.astimezone(UTC).replace(second=0, microsecond=0)
    count = int((until - first).total_seconds() // 60) + 1
    starts = (first + timedelta(minutes=i) for i in range(max(count, 0)))
    return {start: Minute(minute=start) for start in starts}
