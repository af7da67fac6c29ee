"""`agora-bridge validate FILE`: the pre-flight check of a snapshot file, nothing sent."""

from __future__ import annotations

import json
import sys
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Exclusion, Perimeter
from agora_bridge.snapshots.preflight import PreflightReport, preflight
from agora_bridge.snapshots.validation import RULES, paris_today

SHOWN_REJECTIONS = 20
# The attribute is decided across three objects: the table says so, for whoever must fix it.
INTERFACE_AGORA_LEVELS = "programme, else consultation, else dispositif"
EXCLUSION_NOTES = {
    Exclusion.INTERFACE_AGORA_NON.value: f" (false or set nowhere: {INTERFACE_AGORA_LEVELS})"
}


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


def validate(
    file: Annotated[Path, typer.Argument(help="JSON Lines snapshot file (.jsonl or .jsonl.gz)")],
    since: Annotated[
        str | None,
        typer.Option(help="Backfill cut-off (YYYY-MM-DD); default AGORA_BRIDGE_BACKFILL__SINCE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for machines")] = False,
) -> None:
    """Count what a file holds: sendable, excluded, held, invalid (exit 1 if any invalid)."""
    settings = Settings()
    report = preflight(
        file,
        today=paris_today(),
        since=parse_date(since) or settings.backfill.since,
        perimeter=Perimeter(settings.perimetre.categories_exclues),
    )
    with report:
        if as_json:
            write_json(report, sys.stdout)
        else:
            print_table(report, Console())
    if report.invalides:
        raise typer.Exit(1)


def write_json(report: PreflightReport, out: TextIO) -> None:
    """The format of `operations.md`, streamed: the rejected lines may be millions."""
    head = {
        "lignes": report.lignes,
        "doublons": report.doublons,
        "invalides": report.invalides,
        "exclus": dict(sorted(report.exclus.items())),
        "retenus": dict(sorted(report.retenus.items())),
        "envoyables": report.envoyables,
    }
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "detail_invalides": [')
    for index, detail in enumerate(report.details()):
        out.write(("," if index else "") + json.dumps(detail, ensure_ascii=False))
    out.write("]}\n")


def print_table(report: PreflightReport, console: Console) -> None:
    summary = Table(title="Snapshot file", show_header=False)
    summary.add_column("what")
    summary.add_column("lines", justify="right")
    summary.add_row("lines read", f"{report.lignes:,}")
    summary.add_row("[green]sendable[/]", f"{report.envoyables:,}")
    for reason, count in sorted(report.exclus.items()):
        summary.add_row(f"excluded: {reason}{EXCLUSION_NOTES.get(reason, '')}", f"{count:,}")
    for reason, count in sorted(report.retenus.items()):
        summary.add_row(f"[yellow]held: {reason}[/]", f"{count:,}")
    summary.add_row("older versions of a dossier (duplicates)", f"{report.doublons:,}")
    summary.add_row("[red]invalid[/]", f"{report.invalides:,}")
    if report.incoherences:
        label = f"excluded category with Interface AGORA true ({INTERFACE_AGORA_LEVELS})"
        summary.add_row(label, f"{report.incoherences:,}")
    console.print(summary)
    if report.invalides:
        console.print(_rejections_table(report))


def _rejections_table(report: PreflightReport) -> Table:
    shown = min(report.invalides, SHOWN_REJECTIONS)
    table = Table(title=f"Invalid lines ({shown} of {report.invalides:,}; --json for all)")
    for column in ("line", "id_dossier", "field", "rule"):
        table.add_column(column)
    for detail in islice(report.details(), SHOWN_REJECTIONS):
        for error in detail["erreurs"]:
            rule = f"{error['code']}: {RULES.get(error['code'], '')}"
            table.add_row(str(detail["ligne"]), detail["id_dossier"] or "", error["champ"], rule)
    return table
