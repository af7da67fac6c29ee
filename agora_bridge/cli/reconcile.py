"""`agora-bridge reconcile [--sample N | --all] [--json]`: AGORA read back, drift handed over.

Exit status: 0 every dossier read holds what AGORA acknowledged; 1 drift found (and handed to
the sync engine); 3 no drift, but some dossiers could not be read (AGORA failing); 2 an
operator error, as for every command.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agora_bridge.agora.client import AgoraClient
from agora_bridge.cli.common import run_database_command
from agora_bridge.delivery.breaker import Breaker
from agora_bridge.errors import OperatorError
from agora_bridge.reconciliation.report import Report
from agora_bridge.reconciliation.run import reconcile as run_reconcile
from agora_bridge.settings import Settings
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto

DEFAULT_SAMPLE = 100
SHOWN_DRIFTS = 50


def reconcile(
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, help=f"Read N random dossiers (default {DEFAULT_SAMPLE})"),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Read every acknowledged dossier")] = False,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, max=2**63 - 1, help="Draw the sample with this seed"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for machines")] = False,
) -> None:
    """Read dossiers back from AGORA, compare them with what AGORA acknowledged, report each
    drifted one (ids and field names, never values) and hand it to the sync engine."""
    if every and (sample is not None or seed is not None):
        raise OperatorError("give --sample N (and --seed) or --all, not both")
    settings = Settings()
    size = None if every else (sample or DEFAULT_SAMPLE)
    report = run_database_command(_reconcile(settings, size, seed))
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print_table(report, Console())
    raise typer.Exit(report.exit_status)


async def _reconcile(settings: Settings, sample: int | None, seed: int | None) -> Report:
    database = db.make_engine(settings.database_url)
    try:
        await db.assert_at_head(database)
        sync = settings.sync
        breaker = Breaker(
            threshold=sync.breaker_threshold,
            pause_s=sync.breaker_pause_s,
            max_pause_s=sync.breaker_max_pause_s,
        )
        async with AgoraClient(settings.agora_access()) as client:
            return await run_reconcile(
                db.make_sessionmaker(database),
                client,
                NirCrypto.from_settings(settings),
                sample=sample,
                seed=seed,
                breaker=breaker,
            )
    finally:
        await database.dispose()


def print_table(report: Report, console: Console) -> None:
    what = "every acknowledged dossier" if report.graine is None else f"seed {report.graine}"
    summary = Table(title=f"Reconciliation with AGORA ({what})", show_header=False)
    summary.add_column("what")
    summary.add_column("dossiers", justify="right")
    summary.add_row("read on AGORA", f"{report.lus:,}")
    summary.add_row("[green]as acknowledged[/]", f"{report.conformes:,}")
    summary.add_row("[red]drifted, handed to the sync engine[/]", f"{len(report.ecarts):,}")
    summary.add_row("[red]  of which absent from AGORA[/]", f"{report.absents:,}")
    summary.add_row("not compared: the engine is at work on them", f"{report.occupes:,}")
    for code, count in sorted(report.echecs.items()):
        summary.add_row(f"[yellow]read failed: {code}[/]", f"{count:,}")
    if report.interrompu:
        summary.add_row("[yellow]stopped early: AGORA kept failing[/]", "")
    console.print(summary)
    if report.ecarts:
        console.print(_drifts_table(report))


def _drifts_table(report: Report) -> Table:
    shown = min(len(report.ecarts), SHOWN_DRIFTS)
    table = Table(title=f"Drifted dossiers ({shown} of {len(report.ecarts):,}; --json for all)")
    for column in ("id_dossier", "id_agora", "fields that differ"):
        table.add_column(column)
    for ecart in report.ecarts[:SHOWN_DRIFTS]:
        fields = "absent from AGORA" if ecart.absent else ", ".join(ecart.champs)
        table.add_row(ecart.id_dossier, ecart.id_agora, fields)
    return table
