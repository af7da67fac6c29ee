"""`agora-bridge backfill FILE`: the reprise d'antériorité through AGORA lots, resumable."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from agora_bridge.agora.client import AgoraClient
from agora_bridge.backfill import outcomes, report
from agora_bridge.backfill.lots import Pacing
from agora_bridge.backfill.packing import MAX_LINES, Lot
from agora_bridge.backfill.report import Report
from agora_bridge.backfill.reprise import Counts
from agora_bridge.backfill.run import Backfill, Observer, Options
from agora_bridge.cli.common import run_database_command
from agora_bridge.cli.validate import parse_date
from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.preflight import preflight
from agora_bridge.snapshots.reader import check_readable
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto

# None by default: on a 2-core machine shared with other work a pool did not pay, and each
# worker holds ~110 MiB (`docs/BACKFILL.md`); `--workers 2` where cores are idle.
DEFAULT_WORKERS = 0


def backfill(
    file: Annotated[Path, typer.Argument(help="JSON Lines snapshot file (.jsonl or .jsonl.gz)")],
    *,
    since: Annotated[
        str | None,
        typer.Option(help="Cut-off on the entry date (YYYY-MM-DD); default BACKFILL__SINCE"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read, check and count the lots: nothing stored")
    ] = False,
    lot_size: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_LINES, help="Lines per lot; default BACKFILL__LOT_SIZE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object")] = False,
    workers: Annotated[
        int,
        typer.Option(min=0, help="Processes building lot lines; 0: none (in this process)"),
    ] = DEFAULT_WORKERS,
) -> None:
    """Send every sendable dossier of FILE to AGORA in lots. Run it again after a crash or
    Ctrl-C: it continues where it stopped. Exit 1 when lines were invalid or rejected."""
    settings = Settings()
    check_readable(file)  # before anything is written
    options = Options(
        since=parse_date(since) or settings.backfill.since,
        lot_size=lot_size or settings.backfill.lot_size,
        code_financeur=settings.code_financeur,
        perimeter=Perimeter(settings.perimetre.categories_exclues),
        in_flight=settings.backfill.in_flight,
        workers=workers,
        pacing=Pacing(
            poll_s=settings.backfill.poll_s,
            poll_max_s=settings.backfill.poll_max_s,
            retry_base_s=settings.sync.retry_base_s,
            retry_cap_s=settings.sync.retry_cap_s,
        ),
    )
    if dry_run:
        result = _dry_run(file, options)
    else:
        try:
            result = run_database_command(_backfill(settings, file, options))
        except KeyboardInterrupt:
            typer.echo("Interrupted: run the same command again to continue.", err=True)
            raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    else:
        Console().print(report_table(result))
    if result.failed:
        raise typer.Exit(1)


async def _backfill(settings: Settings, file: Path, options: Options) -> Report:
    engine = db.make_engine(settings.database_url)
    try:
        await db.assert_at_head(engine)
        sessions = db.make_sessionmaker(engine)
        with _Bar(file) as bar:
            async with AgoraClient(settings.agora_access()) as client:
                run = Backfill(
                    sessions,
                    client,
                    NirCrypto.from_settings(settings),
                    options,
                    today=paris_today(),
                    clock=lambda: datetime.now(UTC),
                    observer=bar,
                )
                progress = await run.run(file)
        async with sessions() as session:
            return await report.load(session, progress)
    finally:
        await engine.dispose()


def _dry_run(file: Path, options: Options) -> Report:
    """What `validate` counts, and the lots the sendable dossiers would make."""
    with preflight(
        file, today=paris_today(), since=options.since, perimeter=options.perimeter
    ) as checked:
        counts = Counts(
            lignes=checked.lignes,
            invalides=checked.invalides,
            mis_de_cote=checked.envoyables,
            exclus=checked.exclus,
            retenus=checked.retenus,
        )
    lots = math.ceil(checked.envoyables / options.lot_size)
    return Report(counts, lots=lots, dry_run=True)


class _Bar(Observer):
    """Lines read, then lots: in flight, accepted, rejected, duplicates (on stderr)."""

    def __init__(self, file: Path) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        # Lines, not bytes: a compressed file's size says nothing of the lines left.
        self._reading = self._progress.add_task(f"{file.name}: lines", total=None, detail="")
        self._lots: TaskID | None = None
        self._in_flight = 0
        self._counts: dict[str, int] = {"acceptés": 0, "rejetés": 0, "doublons": 0}

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def line_read(self, size: int) -> None:
        self._progress.advance(self._reading, 1)

    def delivering(self, lines: int) -> None:
        self._progress.update(self._reading, total=self._progress.tasks[0].completed)
        self._lots = self._progress.add_task("dossiers in lots", total=lines, detail="")

    def lot_started(self, lot: Lot) -> None:
        self._in_flight += 1
        self._refresh(0)

    def lot_done(self, lot: Lot, resultats: dict[str, Any]) -> None:
        self._in_flight -= 1
        self._counts["acceptés"] += resultats.get(outcomes.ACCEPTE, 0)
        self._counts["rejetés"] += sum(resultats.get(outcomes.REJETE, {}).values())
        self._counts["doublons"] += resultats.get(outcomes.DOUBLON, 0)
        self._refresh(len(lot.dossiers))

    def _refresh(self, done: int) -> None:
        if self._lots is None:
            return
        detail = f"lots in flight {self._in_flight}, " + ", ".join(
            f"{name} {count:,}" for name, count in self._counts.items()
        )
        self._progress.update(self._lots, advance=done, detail=detail)


def report_table(result: Report) -> Table:
    title = "Backfill (dry run: nothing stored or sent)" if result.dry_run else "Backfill"
    if not result.dry_run and not result.termine:
        title += " — not finished: run the same command again"
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    c = result.counts
    rows: list[tuple[str, int]] = [
        ("lines read", c.lignes),
        ("[red]invalid lines[/]", c.invalides),
        ("older versions of a dossier", result.versions_anciennes),
        ("sendable dossiers", result.envoyables),
        *((f"excluded: {reason}", n) for reason, n in sorted(c.exclus.items())),
        *((f"[yellow]held: {reason}[/]", n) for reason, n in sorted(result.retenus.items())),
        ("left to the sync engine (AGORA or the engine has them)", c.au_moteur),
        ("no longer sendable when packed (left to the engine)", c.plus_envoyables),
        ("lots" if not result.dry_run else "lots it would make", result.lots),
    ]
    if not result.dry_run:
        rows += [
            ("dossiers sent in lots", result.envoyes),
            ("[green]accepted[/]", result.acceptes),
            *((f"[red]rejected: {code}[/]", n) for code, n in sorted(result.rejetes.items())),
            ("duplicates (AGORA had them: the engine reconciles)", result.doublons),
            ("handed to the engine (AGORA did not say)", result.a_reprendre),
            ("lots refused or lost by AGORA", result.lots_refuses),
            ("lots not finished", result.lots_en_cours),
        ]
    for what, count in rows:
        table.add_row(what, f"{count:,}")
    return table
