"""The sync benchmark's pieces: what it counts as AGORA calls, and the order it feeds
versions in (a request never holds two versions of one dossier)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import bench.floor as bench_floor
import bench.sync as bench_sync
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.storage import db
from agora_bridge.synthetic.histories import histories
from bench.floor import MockProcess, measure
from bench.sync import Latency, agora_calls, by_version, staggered
from mocks.server import running_mock
from tests.test_synthetic import TODAY


def dossier_versions(lines: list[str]) -> list[tuple[str, int]]:
    parsed = [Snapshot.model_validate_json(line) for line in lines]
    return [(s.id_dossier, s.version) for s in parsed]


async def test_agora_calls_are_what_the_mock_served_but_the_token() -> None:
    async with running_mock() as mock, httpx.AsyncClient(base_url=mock.url) as control:
        floor = await measure(mock.url, 0.3, 2)
        assert await agora_calls(control) == floor.calls


def test_by_version_puts_each_dossier_once_in_a_request_of_as_many_lines() -> None:
    dossiers = list(histories(30, seed=1, today=TODAY))
    order = dossier_versions(by_version(dossiers))
    for start in range(0, len(order), 30):
        request = [key for key, _ in order[start : start + 30]]
        assert len(set(request)) == len(request)
    assert [version for _, version in order[:30]] == [1] * 30


def test_staggered_keeps_versions_in_order_and_apart() -> None:
    dossiers = list(histories(300, seed=2, today=TODAY))
    order = dossier_versions(staggered(dossiers, spacing=100))
    seen: dict[str, int] = {}
    for position, (key, version) in enumerate(order):
        assert version == seen.get(key, 0) + 1
        seen[key] = version
        window = [k for k, _ in order[position : position + 20]]
        assert Counter(window)[key] == 1  # a request of 20 holds one version of it
    assert len(order) == sum(len(versions) for versions in dossiers)


def test_latency_percentiles_of_known_samples() -> None:
    latency = Latency(fed=100, seconds=[n / 100 for n in range(1, 101)], late=0)
    assert latency.percentile(50) == pytest.approx(0.505)
    assert latency.percentile(99) == pytest.approx(0.9901)  # inclusive: within the samples


def _stubbed(monkeypatch: pytest.MonkeyPatch, server: Callable[[], dict[int, float]]) -> None:
    """AGORA served 7 calls in the window; the processes' CPU as `server` says."""
    calls = iter([3, 10])

    async def served(_: object) -> int:
        return next(calls)

    async def nothing_pending(_: object) -> int:
        return 0

    monkeypatch.setattr(bench_sync, "agora_calls", served)
    monkeypatch.setattr(bench_sync, "pending", nothing_pending)
    monkeypatch.setattr(bench_sync, "tree_cpu_seconds", lambda _: 1.0)
    monkeypatch.setattr(bench_sync, "cpu_seconds", lambda _: 1.0)
    monkeypatch.setattr(bench_floor, "postgres_cpu", server)


async def _window(url: str) -> bench_sync.Throughput:
    engine = db.make_engine(url)  # never connected: `pending` is stubbed
    sessions = db.make_sessionmaker(engine)
    try:
        async with httpx.AsyncClient() as control:
            run = bench_sync.Run(MockProcess("http://mock", 0), control, sessions, 0)
            return await bench_sync.until_delivered(run, 10, 1.0)
    finally:
        await engine.dispose()


async def test_a_sqlite_run_counts_no_postgresql_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's column of a SQLite run is 0, not what the machine's PostgreSQL spent
    meanwhile for others (the server is shared: other databases, other benchmarks)."""
    others = iter(float(n) for n in range(100_000))  # another user's backend keeps working
    _stubbed(monkeypatch, lambda: {1: next(others)})
    throughput = await _window(f"sqlite:///{tmp_path / 'b.db'}")
    assert throughput.calls == 7
    assert throughput.database_cpu_s == 0.0


async def test_a_backend_ending_in_the_window_keeps_its_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Backend 1 (5 s before the window) ends in it: a difference of sums took its 5 s off
    the 2 s backend 2 spent."""
    samples = iter([{1: 5.0, 2: 1.0}])
    _stubbed(monkeypatch, lambda: next(samples, {2: 3.0}))
    throughput = await _window("postgresql://nobody@127.0.0.1:1/none")
    assert throughput.database_cpu_s == pytest.approx(2.0)
