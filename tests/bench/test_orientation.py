"""The orientation benchmark: every request it times got the status its kind expects, the
mix is the documented one, and the report shows the percentiles."""

from __future__ import annotations

import os
import random

from agora_bridge.logs import configure_logging
from bench.orientation import (
    MIX,
    Run,
    cpu_by_kind,
    measure,
    percentiles,
    report,
    waited_seconds,
)
from tests.conftest import throwaway_pg_database


def test_percentiles_and_the_report() -> None:
    run = Run()
    for value in range(1, 101):
        run.record("get", float(value), 200)
    run.record("create", 5.0, 500)
    run.record("create", 7.0, 201)
    run.late_sends_ms.extend([0.0, 1.0])
    run.from_send_ms.extend([2.0, 4.0])
    assert percentiles([float(v) for v in range(1, 101)]) == (50.5, 95.05, 99.01)
    assert percentiles([7.0]) == (7.0, 7.0, 7.0)
    text = report(run, 100, 1.0, 0.5)
    assert "| get | 100 | 50.5 | 95.0 | 99.0 |" in text
    assert "unexpected statuses: {'create 500': 1}" in text
    assert text.endswith("| all, from the send | 2 | 3.0 | 3.9 | 4.0 |")


def test_the_mix_adds_up_and_draws_every_kind() -> None:
    assert abs(sum(share for share, _ in MIX.values()) - 1) < 1e-9
    rng = random.Random(1)
    drawn = {rng.choices(list(MIX), [s for s, _ in MIX.values()])[0] for _ in range(200)}
    assert drawn == set(MIX)


async def test_a_short_run_against_serve_gets_only_expected_answers() -> None:
    async with throwaway_pg_database() as url:
        text = await measure(url, rate=30, seconds=1, orientations=10)
    assert "unexpected statuses: none" in text, text
    assert "| all | 30 |" in text, text
    assert "| all, from the send | 30 |" in text, text


async def test_the_floor_runs_first_when_asked() -> None:
    async with throwaway_pg_database() as url:
        text = await measure(url, rate=30, seconds=0.5, orientations=10, floor_seconds=0.5)
    floor, mix = text.split("| all |", 2)[1:]
    assert "| live | 15 |" in floor, text
    assert "| live |" not in mix, text
    assert text.count("unexpected statuses: none") == 2, text


def test_the_time_waiting_for_a_core_is_read_from_schedstat() -> None:
    assert waited_seconds(os.getpid()) >= 0


async def test_the_cpu_table_has_every_kind() -> None:
    try:
        async with throwaway_pg_database() as url:
            text = await cpu_by_kind(url, requests=6)
    finally:
        configure_logging(level="INFO", fmt="json")  # cpu_by_kind logs as serve does
    assert [line.split(" | ")[0].strip("| ") for line in text.splitlines()[2:]] == list(MIX)
