"""`agora-bridge demo --serve`: after the demo the API and the ops page answer on the printed
loopback URL with the printed OPS key, show none of the demo's NIRs, names or birth dates,
and Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.stored_text import assert_absent
from tests.test_no_personal_data import personal_data

DOSSIERS = 300


def _printed(stream: IO[str], label: str, *, within_s: float) -> str:
    """The value after `label` on the first line that has it (the demo prints as it goes)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.strip().startswith(label):
            return line.split(label, 1)[1].split()[0]
    raise AssertionError(f"the demo never printed {label!r}")


def test_demo_serve_opens_the_ops_page_without_personal_data(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agora_bridge", "demo", "--dossiers", str(DOSSIERS)]
    demo = subprocess.Popen(
        [*command, "--workdir", str(tmp_path), "--serve"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        url = _printed(demo.stdout, "6. Serving the API on", within_s=120)
        key = _printed(demo.stdout, "OPS key:", within_s=5)
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as client:
            ops = {"Authorization": f"Bearer {key}"}
            answers = [client.get("/metrics"), client.get("/ops/status", headers=ops)]
            answers.append(client.get("/ops", headers=ops))
    finally:
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
    # Interrupted as a shell expects (130, uvicorn re-raises the signal once stopped), quietly.
    assert demo.returncode in (0, 130), rest[-2000:]
    assert "Traceback" not in rest
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    metrics, status, page = answers
    families = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert {"agora_bridge_queue_depth", "agora_bridge_backfill_acceptes"} <= families
    assert status.json()["reprise"]["termine"] is True
    assert "<svg" in page.text
    nirs, others = personal_data(tmp_path / "dossiers.jsonl")
    for answer in answers:
        # Counts, not the values: a failing assertion must not print personal data.
        assert_absent(answer.content, nirs)
        assert_absent(answer.content, others)
