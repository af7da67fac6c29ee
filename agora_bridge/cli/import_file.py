"""`agora-bridge import FILE`: load delta snapshots from a file, as the ingest API would."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.cli.common import run_database_command
from agora_bridge.delivery import wakeup
from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.reader import check_readable, read_lines
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import StoreOutcome
from agora_bridge.storage.ingest import Ingestion, IngestReport, StoredBatch, ingest_lines

SHOWN_REJECTIONS = 20


def import_file(
    file: Annotated[Path, typer.Argument(help="JSON Lines snapshot file (.jsonl or .jsonl.gz)")],
) -> None:
    """Store each snapshot of FILE (a newer version replaces the stored one); exit 1 when
    lines were rejected, 2 when the file cannot be read."""
    settings = Settings()
    check_readable(file)  # before anything is written
    crypto = NirCrypto.from_settings(settings)
    report = run_database_command(_import(settings, file, crypto))
    console = Console()
    console.print(summary_table(report))
    _print_rejections(report, console)
    if report.outcomes["REJETE"]:
        raise typer.Exit(1)


async def _import(settings: Settings, file: Path, crypto: NirCrypto) -> IngestReport:
    ingestion = Ingestion(
        today=paris_today(),
        now=datetime.now(UTC),
        perimeter=Perimeter(settings.perimetre.categories_exclues),
        crypto=crypto,
    )
    with _progress() as progress:
        # Compressed files are counted in lines: their size says nothing of the lines left.
        total = None if file.suffix == ".gz" else file.stat().st_size
        task = progress.add_task(file.name, total=total)
        lines = _advancing(read_lines(file), progress, task)
        engine = db.make_engine(settings.database_url)
        try:
            await db.assert_at_head(engine)
            sessions = db.make_sessionmaker(engine)
            # A `sync` running elsewhere starts on each batch as it commits.
            return await ingest_lines(sessions, lines, ingestion, then=_wake_sync)
        finally:
            await engine.dispose()


async def _wake_sync(session: AsyncSession, batch: StoredBatch) -> None:
    if StoreOutcome.ACCEPTE in batch.outcomes:
        await wakeup.notify_at_commit(session)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _advancing(
    lines: Iterable[tuple[int, bytes]], progress: Progress, task: TaskID
) -> Iterator[tuple[int, bytes]]:
    for number, line in lines:
        progress.advance(task, len(line))
        yield number, line


def summary_table(report: IngestReport) -> Table:
    table = Table(title="Ingested snapshots", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for outcome, count in sorted(report.outcomes.items()):
        table.add_row(outcome, f"{count:,}")
    for classe, count in sorted(report.classes.items()):
        table.add_row(f"  {classe}", f"{count:,}")
    return table


def _print_rejections(report: IngestReport, console: Console) -> None:
    for rejected in report.rejected[:SHOWN_REJECTIONS]:
        rules = ", ".join(f"{e.champ} {e.code}" for e in rejected.rejection.erreurs)
        id_dossier = rejected.rejection.id_dossier or "no id"
        console.print(f"line {rejected.ligne} ({id_dossier}): {rules}")
    hidden = report.outcomes["REJETE"] - min(len(report.rejected), SHOWN_REJECTIONS)
    if hidden > 0:
        console.print(f"… and {hidden:,} more rejected lines (see the log)")
