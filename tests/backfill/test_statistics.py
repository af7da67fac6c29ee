"""PostgreSQL plans a backfill's batches from statistics of the tables it grows: analysed as
the reading doubles them, and once more before the lots (autovacuum may lag or be off: it is
off on this machine, and the set-aside's look-up by key became a scan of every row)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.backfill import reprise
from agora_bridge.storage.db import refresh_statistics
from agora_bridge.storage.models import Reprise
from tests.backfill.cases import every_case_file
from tests.backfill.harness import backfill
from tests.conftest import throwaway_pg_database
from tests.delivery.harness import delivery


async def test_the_reading_analyses_its_tables_as_they_double_then_before_the_lots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysed_at: list[int] = []

    async def spy(session: AsyncSession, tables: tuple[str, ...]) -> None:
        # The reprise's row is updated in the same transaction, just before.
        analysed_at.append(int(await session.scalar(select(Reprise.lignes_lues)) or 0))
        await refresh_statistics(session, tables)

    monkeypatch.setattr(reprise, "refresh_statistics", spy)
    monkeypatch.setattr(reprise, "ANALYSED_FROM", 30)
    path = every_case_file(tmp_path, dossiers=200)
    async with throwaway_pg_database() as url, delivery(url) as bridge:
        report = await backfill(bridge, path, batch_size=20)
        async with bridge.sessions() as session:
            estimated = await session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'livraison'")
            )
            items = await session.scalar(text("SELECT count(*) FROM livraison"))
    assert report.termine
    lines = len(path.read_text().splitlines())
    assert lines > 160
    # Batches end every 20 lines: the first at or past 30, then each at twice the last, then
    # once the whole file is read.
    assert analysed_at == [40, 80, 160, lines]
    assert estimated == items  # a table this small is analysed whole: the exact count
