"""`agora-bridge pacte-report [--json]`: the Pacte's indicators from the stored snapshots —
entries into training per year since 2017, all and below level IV, by dispositif and by
département, against 2017 (`agora_bridge/pacte.py`, `docs/PACTE.md`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.cli.common import in_session, run_database_command
from agora_bridge.pacte import Tally, entry_of, report
from agora_bridge.settings import Settings
from agora_bridge.storage.db import reading
from agora_bridge.storage.models import Dossier

PARIS = ZoneInfo("Europe/Paris")
# Rows fetched per round trip: memory stays flat whatever the number of dossiers.
PAGE = 5000
SECTIONS = (("total", None), ("par_dispositif", "dispositif"), ("par_departement", "departement"))


def pacte_report(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for machines")] = False,
) -> None:
    """Entries into training per year since 2017 (all, and below level IV) by dispositif and
    département, against 2017 (index, 2017 = 100), from the newest snapshot of each dossier."""
    counts = run_database_command(in_session(Settings().database_url, _tally))
    result = report(counts, last_year=datetime.now(PARIS).year)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print(result, Console())


async def _tally(session: AsyncSession) -> Tally:
    # Page by page in id order, no transaction held (on SQLite it would take the write lock
    # and hold the ingest back): each dossier is counted once, as it is when its page is read.
    await reading(session)
    counts, after = Tally(), 0
    while True:
        statement = (
            select(Dossier.id, Dossier.payload)
            .where(Dossier.id > after)
            .order_by(Dossier.id)
            .limit(PAGE)
        )
        page = (await session.execute(statement)).all()
        if not page:
            return counts
        for _, payload in page:
            if (entry := entry_of(payload)) is not None:
                counts.add(entry)
        after = page[-1].id
        session.expunge_all()


def _print(result: dict[str, Any], console: Console) -> None:
    for section, key in SECTIONS:
        title = "Entries into training" + (f" by {key}" if key else "") + " (2017 = 100)"
        table = Table(title=title, title_justify="left")
        for column in ([key] if key else []) + ["year", "entries", "index", "below IV", "index"]:
            table.add_column(column, justify="left" if column == key else "right")
        for row in result[section]:
            cells = [row[key]] if key else []
            cells += [str(row["annee"]), f"{row['entrees']:,}", _index(row["indice_2017"])]
            cells += [f"{row['entrees_infra_iv']:,}", _index(row["indice_2017_infra_iv"])]
            table.add_row(*cells)
        console.print(table)
    if result["entrees_avant_2017"]:
        console.print(f"Entries before 2017, not counted: {result['entrees_avant_2017']:,}")


def _index(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
