"""The pre-flight count of a snapshot file (`agora-bridge validate`), in constant memory.

Duplicates are resolved by the highest version of each `id_dossier`, which needs every id
seen so far: they go to a throw-away SQLite file instead of a dict, so that memory stays
flat whatever the size of the file. Rejected lines are spooled to a temporary file too.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Classement, Perimeter, classify, is_inconsistent
from agora_bridge.snapshots.reader import read_lines
from agora_bridge.snapshots.validation import Rejection, parse_line

_BATCH = 5000
_SCHEMA = """
CREATE TABLE latest (
    id_dossier TEXT PRIMARY KEY, version INTEGER NOT NULL,
    classement TEXT NOT NULL, motif TEXT, incoherent INTEGER NOT NULL
) WITHOUT ROWID
"""
# Highest version wins; on a tie the row already there (the first seen) stays.
_UPSERT = """
INSERT INTO latest VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id_dossier) DO UPDATE SET
    version = excluded.version, classement = excluded.classement,
    motif = excluded.motif, incoherent = excluded.incoherent
WHERE excluded.version > latest.version
"""


@dataclass
class PreflightReport:
    lignes: int = 0
    doublons: int = 0
    invalides: int = 0
    exclus: Counter[str] = field(default_factory=Counter)
    retenus: Counter[str] = field(default_factory=Counter)
    envoyables: int = 0
    incoherences: int = 0  # excluded category flagged `interface_agora`
    # The rejected lines, one JSON object per line, spooled on disk (closed by close()).
    invalid_details: IO[str] = field(
        default_factory=lambda: tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    )

    def details(self) -> Iterator[dict[str, Any]]:
        self.invalid_details.seek(0)
        for line in self.invalid_details:
            yield json.loads(line)

    def close(self) -> None:
        self.invalid_details.close()

    def __enter__(self) -> PreflightReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def preflight(
    path: Path, *, today: date, since: date | None, perimeter: Perimeter
) -> PreflightReport:
    report = PreflightReport()
    try:
        with tempfile.TemporaryDirectory(prefix="agora-bridge-") as workdir:
            db = _dedup_database(Path(workdir) / "latest.sqlite")
            try:
                valid = _scan(path, report, db, today=today, since=since, perimeter=perimeter)
                _summarise(db, report, valid)
            finally:
                db.close()
    except BaseException:
        report.close()
        raise
    return report


def _dedup_database(file: Path) -> sqlite3.Connection:
    db = sqlite3.connect(file)
    # A scratch file: durability is useless, a bounded page cache keeps memory flat.
    db.executescript(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -4000;" + _SCHEMA
    )
    return db


def _scan(
    path: Path,
    report: PreflightReport,
    db: sqlite3.Connection,
    *,
    today: date,
    since: date | None,
    perimeter: Perimeter,
) -> int:
    batch: list[tuple[str, int, str, str | None, int]] = []
    valid = 0
    for number, line in read_lines(path):
        report.lignes += 1
        result = parse_line(line, today=today)
        if isinstance(result, Rejection):
            _record_rejection(report, number, result)
            continue
        valid += 1
        batch.append(_row(result, perimeter, since))
        if len(batch) >= _BATCH:
            db.executemany(_UPSERT, batch)
            batch.clear()
    db.executemany(_UPSERT, batch)
    return valid


def _row(
    s: Snapshot, perimeter: Perimeter, since: date | None
) -> tuple[str, int, str, str | None, int]:
    c = classify(s, perimeter, since=since)
    return (s.id_dossier, s.version, c.classement.value, c.motif, is_inconsistent(s, perimeter))


def _record_rejection(report: PreflightReport, number: int, rejection: Rejection) -> None:
    report.invalides += 1
    detail = {
        "ligne": number,
        "id_dossier": rejection.id_dossier,
        "erreurs": [{"champ": e.champ, "code": e.code} for e in rejection.erreurs],
    }
    # ASCII whatever a line held: a rejected line never stops the count.
    report.invalid_details.write(json.dumps(detail) + "\n")


def _summarise(db: sqlite3.Connection, report: PreflightReport, valid: int) -> None:
    rows = db.execute(
        "SELECT classement, motif, count(*), sum(incoherent) FROM latest GROUP BY 1, 2"
    )
    distinct = 0
    for classement, motif, count, incoherent in rows:
        distinct += count
        report.incoherences += incoherent
        if classement == Classement.EXCLU:
            report.exclus[motif] = count
        elif classement == Classement.RETENU:
            report.retenus[motif] = count
        else:
            report.envoyables = count
    report.doublons = valid - distinct
