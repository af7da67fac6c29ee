"""`validate` keeps memory flat: fifteen times the lines, about the same peak RSS."""

from __future__ import annotations

from pathlib import Path

from agora_bridge.synthetic import write_file
from bench.validate_memory import measure_validate
from tests.builders import TODAY


def test_peak_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    peaks = []
    for lines in (10_000, 150_000):
        path = tmp_path / f"{lines}.jsonl"
        write_file(path, lines, seed=3, today=TODAY)
        peaks.append(measure_validate(path, lines).peak_rss_mib)
    small, large = peaks
    # Holding even just the 140,000 extra ids in a dict would cost more than this.
    assert large - small < 10, f"peak RSS grew from {small:.1f} to {large:.1f} MiB"
