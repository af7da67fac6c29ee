"""`make bench` runs each module it lists: a misspelt one would fail after the others ran."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench.__main__ import BENCHMARKS


def test_every_module_make_bench_runs_is_a_benchmark_of_the_folder() -> None:
    for name in BENCHMARKS:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None
        assert Path(spec.origin).parent.name == "bench"
        assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(), name
