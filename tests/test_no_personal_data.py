"""The demo's logs, output and database file hold none of the NIRs, names (birth name, first
name) or birth dates it used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from agora_bridge.snapshots.nir import normalise_nir
from agora_bridge.snapshots.normalise import agora_name
from tests.stored_text import assert_absent

DOSSIERS = 400


def run_demo(workdir: Path) -> str:
    env = {**os.environ, "AGORA_BRIDGE_LOG_LEVEL": "DEBUG"}
    command = [sys.executable, "-m", "agora_bridge", "demo", "--dossiers", str(DOSSIERS)]
    done = subprocess.run(
        [*command, "--workdir", str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout + done.stderr


def personal_data(source: Path) -> tuple[set[str], set[str]]:
    """(NIRs in every written form, names and birth dates) of the generated snapshots."""
    nirs: set[str] = set()
    others: set[str] = set()
    for line in source.read_text().splitlines():
        try:
            stagiaire = json.loads(line)["stagiaire"]
        except (ValueError, KeyError):
            continue  # the deliberately broken lines
        if stagiaire.get("nir"):
            nir = normalise_nir(stagiaire["nir"])
            nirs |= {stagiaire["nir"], nir, nir[:13]}
        others.add(stagiaire.get("date_naissance", ""))
        for name in (stagiaire.get("nom_naissance", ""), stagiaire.get("prenom", "")):
            # As written (`assert_absent` also looks for JSON's escapes), and as AGORA gets it.
            others |= {name, agora_name(name)} if isinstance(name, str) else set()
    # Shorter ones ("Léa") would be found by chance in binary data.
    return nirs, {value for value in others if isinstance(value, str) and len(value) >= 4}


def test_the_demo_leaks_no_personal_data(tmp_path: Path) -> None:
    output = run_demo(tmp_path)
    nirs, others = personal_data(tmp_path / "dossiers.jsonl")
    assert len(nirs) > DOSSIERS  # the check below looks for something real
    log = (tmp_path / "demo.log").read_text()
    # Something real to search: DEBUG records, and the rejected lines with their ids (how many
    # depends on the generator's draws, so no line count).
    records = [json.loads(line) for line in log.splitlines()]
    events = Counter(record["event"] for record in records)
    assert events["ingest.batch.stored"] >= 1
    assert events["ingest.line.rejected"] >= 1
    assert any(record["level"] == "debug" for record in records)
    database = b"".join(path.read_bytes() for path in tmp_path.glob("agora_bridge.db*"))
    assert len(database) > 100_000
    assert len(others) > DOSSIERS
    # Counts, not the values: a failing assertion must not print personal data.
    for place in (log.encode(), output.encode(), database):
        assert_absent(place, nirs)
        assert_absent(place, others)
