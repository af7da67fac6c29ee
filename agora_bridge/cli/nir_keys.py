"""`agora-bridge nir-keys …`: the keys that encrypt stored identities (NIR, names, birth date).

The report keeps its words from when only the NIR was encrypted ("NIR(s)"): it counts dossier
rows, each one blob, with or without a NIR in it. Orientation candidates and backfill lot
bodies, encrypted with the same keys, get a line of their own when there are any."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

import typer

from agora_bridge.cli.common import operator_errors, run_database_command
from agora_bridge.settings import Settings
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NIR_KEYS_SETTING, NirCrypto, new_index_key, new_key_line
from agora_bridge.storage.rotation import LeftBehind, RotationReport, rotate_all

nir_keys_app = typer.Typer(
    help="Keys that encrypt stored NIRs, names and birth dates.", no_args_is_help=True
)


@nir_keys_app.command()
def new(
    index: Annotated[
        bool, typer.Option("--index", help="Print a blind-index key (NIR_INDEX_KEY) instead.")
    ] = False,
) -> None:
    """Print a fresh key: put it first in AGORA_BRIDGE_NIR_KEYS, then run `rotate`."""
    typer.echo(new_index_key() if index else new_key_line())


# What the report calls the rows of each sealed table.
NOUNS = {
    "dossier": "NIR(s)",
    "orientation": "orientation candidate(s)",
    "lot": "backfill lot body(ies)",
}
REMEDIES = {
    "dossier": "a dossier whose NIR does not authenticate needs a newer snapshot",
    "orientation": "an orientation whose candidate does not authenticate was altered in the"
    " database: restore the row from a backup",
    "lot": "a lot body that does not authenticate was altered in the database: restore the"
    " row from a backup or run the backfill again",
}


@nir_keys_app.command()
@operator_errors
def rotate(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows re-encrypted per commit.")] = 1000,
) -> None:
    """Re-encrypt every stored identity (NIR, names, birth date) under the newest key of
    AGORA_BRIDGE_NIR_KEYS: dossiers, orientation candidates and backfill lot bodies.

    Exit 1 when some rows could not be decrypted: they are listed (dossier ids, orientation
    ids, lot keys) and left as they are, the others are rotated."""
    settings = Settings()
    reports, key_id = run_database_command(_rotate(settings, batch_size))
    for kind, report in reports.items():
        if kind == "dossier" or report.rotated:
            typer.echo(f"{report.rotated} {NOUNS[kind]} re-encrypted under key {key_id}")
    for kind, report in reports.items():
        for line in _left_behind_lines(NOUNS[kind], report):
            typer.echo(line)
    if any(report.left_behind for report in reports.values()):
        typer.echo(f"Error: {_why(reports)}", err=True)
        raise typer.Exit(1)


async def _rotate(settings: Settings, batch_size: int) -> tuple[dict[str, RotationReport], str]:
    # Inside the coroutine so that a configuration error gets the one-sentence treatment.
    crypto = NirCrypto.from_settings(settings)
    engine = db.make_engine(settings.database_url)
    try:
        await db.assert_at_head(engine)
        reports = await rotate_all(db.make_sessionmaker(engine), crypto, batch_size=batch_size)
        return reports, crypto.newest_key_id
    finally:
        await engine.dispose()


def _left_behind_lines(noun: str, report: RotationReport) -> Iterator[str]:
    for key_id, left in sorted(report.unknown_keys.items()):
        reason = f"left under key {key_id}, which is no longer in {NIR_KEYS_SETTING}"
        yield from _listed(noun, left, reason)
    if report.not_authentic.count:
        reason = "left as they are: their ciphertext does not authenticate for their row"
        yield from _listed(noun, report.not_authentic, reason)


def _listed(noun: str, left: LeftBehind, reason: str) -> Iterator[str]:
    yield f"{left.count} {noun} {reason}:"
    yield from (f"  {row_id}" for row_id in left.ids)
    if left.count > len(left.ids):
        yield f"  … and {left.count - len(left.ids)} more"


def _why(reports: Mapping[str, RotationReport]) -> str:
    """One sentence: why some rows were not rotated, and what the operator can do."""
    remedies = []
    if any(report.unknown_keys for report in reports.values()):
        remedies.append(
            f"put the missing key back in {NIR_KEYS_SETTING} (after the newest) and run "
            "`agora-bridge nir-keys rotate` again"
        )
    remedies += [REMEDIES[kind] for kind, report in reports.items() if report.not_authentic.count]
    left = {kind: report.left_behind for kind, report in reports.items() if report.left_behind}
    what = ", ".join(f"{count} {NOUNS[kind]}" for kind, count in left.items())
    return f"{what} could not be decrypted (listed above): {'; '.join(remedies)}."
