"""The sync benchmark's pieces: what it counts as AGORA calls, and the order it feeds
versions in (a request never holds two versions of one dossier)."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.synthetic.histories import histories
from bench.floor import measure
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
