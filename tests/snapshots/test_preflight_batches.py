"""`validate` keeps each dossier's newest version across the batches it writes to SQLite.

Mutation testing found the batch flush unchecked: only the memory benchmark (left out of
mutation runs) read more than one batch (5,000 valid lines).
"""

from __future__ import annotations

from pathlib import Path

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.preflight import preflight
from tests.builders import TODAY, snapshot_line

LINES = 5_001  # one more than a batch


def test_versions_in_different_batches_are_one_dossier(tmp_path: Path) -> None:
    template = snapshot_line(id_dossier="ID", version=1)
    path = tmp_path / "dossiers.jsonl"
    with path.open("w") as out:
        for n in range(LINES - 1):
            out.write(template.replace('"ID"', f'"D-{n}"') + "\n")
        # The newest version of the first dossier, in the second batch: held, NIR removed.
        newer = snapshot_line(id_dossier="D-0", version=2, **{"stagiaire.nir": None})
        out.write(newer + "\n")
    with preflight(path, today=TODAY, since=None, perimeter=Perimeter(DEFAULT_EXCLUDED)) as report:
        assert (report.lignes, report.invalides, report.doublons) == (LINES, 0, 1)
        assert report.envoyables == LINES - 2
        assert report.retenus == {"NIR_ABSENT": 1}
