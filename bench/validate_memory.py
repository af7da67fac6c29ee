"""`validate` on large generated files: time and peak memory, to show memory stays flat.

.venv/bin/python -m bench.validate_memory --lines 100000 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agora_bridge.snapshots.validation import paris_today
from agora_bridge.synthetic import write_file


@dataclass(frozen=True)
class Measure:
    lines: int
    seconds: float
    peak_rss_mib: float


def measure_validate(path: Path, lines: int) -> Measure:
    """Run `agora-bridge validate --json` in a child process; its own peak RSS (wait4)."""
    command = [sys.executable, "-m", "agora_bridge", "validate", str(path), "--json"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 (our own CLI)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode not in (0, 1):  # 1: the file has invalid lines
        raise RuntimeError(f"validate failed with status {child.returncode}")
    return Measure(lines, seconds, usage.ru_maxrss / 1024)  # Linux reports KiB


def run(sizes: list[int], workdir: Path) -> list[Measure]:
    results = []
    for lines in sizes:
        path = workdir / f"snapshots-{lines}.jsonl"
        write_file(path, lines, seed=1, today=paris_today())
        results.append(measure_validate(path, lines))
        path.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as workdir:
        results = run(args.lines, Path(workdir))
    print(f"validate, {os.cpu_count()} cores")
    print(f"{'lines':>10} {'seconds':>8} {'lines/s':>9} {'peak RSS MiB':>13}")
    for m in results:
        print(
            f"{m.lines:>10,} {m.seconds:>8.1f} {m.lines / m.seconds:>9,.0f} {m.peak_rss_mib:>13.1f}"
        )


if __name__ == "__main__":
    main()
