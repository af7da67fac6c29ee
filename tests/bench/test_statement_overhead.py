"""The statement-overhead benchmark measures the three paths on a real connection."""

from __future__ import annotations

from bench.statement_overhead import measure
from tests.conftest import PG_URL


async def test_every_path_is_timed_and_the_session_adds_to_the_driver() -> None:
    through_session, through_executor, alone = await measure(PG_URL, 200)
    assert 0 < alone < through_session
    assert 0 < through_executor < through_session
