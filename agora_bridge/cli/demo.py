"""`agora-bridge demo`: the whole flow on synthetic data, with no configuration.

For now: generate → validate → store (NIRs, names and birth dates encrypted) → summary. The
backfill, the sync engine and the bundled AGORA mock join the demo as their issues land.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agora_bridge.cli.import_file import summary_table
from agora_bridge.cli.validate import print_table
from agora_bridge.logs import configure_logging
from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.preflight import preflight
from agora_bridge.snapshots.reader import read_lines
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.ingest import Ingestion, IngestReport, ingest_lines
from agora_bridge.synthetic import write_file


def demo(
    dossiers: Annotated[int, typer.Option(min=1, help="Synthetic dossiers to generate")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data")] = 0,
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files")] = Path(
        "agora-bridge-demo"
    ),
) -> None:
    """Run the flow end to end on synthetic dossiers: a SQLite file, no configuration."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "agora_bridge.db"
    settings = Settings(mode="demo", database_url=f"sqlite:///{database}")
    log_file = (workdir / "demo.log").open("w", encoding="utf-8")
    with log_file:
        # The terminal shows the tables; the structured log goes to a file.
        configure_logging(level="DEBUG", fmt="json", stream=log_file)
        asyncio.run(_run(settings, workdir, database, dossiers=dossiers, seed=seed))
    Console().print(f"Log: {log_file.name}   Database: {database}")


async def _run(
    settings: Settings, workdir: Path, database: Path, *, dossiers: int, seed: int
) -> None:
    console = Console()
    today = paris_today()
    source = workdir / "dossiers.jsonl"
    write_file(source, dossiers, seed=seed, today=today)
    console.print(f"[bold]1. Generated[/] {dossiers:,} synthetic snapshots in {source}")
    perimeter = Perimeter(settings.perimetre.categories_exclues)
    with preflight(source, today=today, since=settings.backfill.since, perimeter=perimeter) as r:
        console.print("[bold]2. Validated[/] (agora-bridge validate)")
        print_table(r, console)
    report = await _store(settings, database, source, perimeter)
    console.print("[bold]3. Stored[/] the current state of each dossier, identities encrypted")
    console.print(summary_table(report))


async def _store(
    settings: Settings, database: Path, source: Path, perimeter: Perimeter
) -> IngestReport:
    for stale in database.parent.glob(f"{database.name}*"):
        stale.unlink()  # each demo starts from an empty database
    engine = db.make_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        ingestion = Ingestion(
            today=paris_today(),
            now=datetime.now(UTC),
            perimeter=perimeter,
            crypto=NirCrypto.from_settings(settings),
        )
        return await ingest_lines(db.make_sessionmaker(engine), read_lines(source), ingestion)
    finally:
        await engine.dispose()
