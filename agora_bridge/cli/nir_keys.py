"""`agora-bridge nir-keys …`: the keys that encrypt stored identities (NIR, names, birth date).

The report keeps its words from when only the NIR was encrypted ("NIR(s)"): it counts dossier
rows, each one blob, with or without a NIR in it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import typer

from agora_bridge.cli.common import operator_errors, run_database_command
from agora_bridge.settings import Settings
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NIR_KEYS_SETTING, NirCrypto, new_index_key, new_key_line
from agora_bridge.storage.dossiers import LeftBehind, RotationReport, rotate_nir_keys

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


@nir_keys_app.command()
@operator_errors
def rotate(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows re-encrypted per commit.")] = 1000,
) -> None:
    """Re-encrypt every stored identity (NIR, names, birth date) under the newest key of
    AGORA_BRIDGE_NIR_KEYS.

    Exit 1 when some rows could not be decrypted: they are listed (dossier ids) and left as
    they are, the others are rotated."""
    settings = Settings()
    report, key_id = run_database_command(_rotate(settings, batch_size))
    typer.echo(f"{report.rotated} NIR(s) re-encrypted under key {key_id}")
    for line in _left_behind_lines(report):
        typer.echo(line)
    if report.left_behind:
        typer.echo(f"Error: {_why(report)}", err=True)
        raise typer.Exit(1)


async def _rotate(settings: Settings, batch_size: int) -> tuple[RotationReport, str]:
    # Inside the coroutine so that a configuration error gets the one-sentence treatment.
    crypto = NirCrypto.from_settings(settings)
    engine = db.make_engine(settings.database_url)
    try:
        await db.assert_at_head(engine)
        report = await rotate_nir_keys(db.make_sessionmaker(engine), crypto, batch_size=batch_size)
        return report, crypto.newest_key_id
    finally:
        await engine.dispose()


def _left_behind_lines(report: RotationReport) -> Iterator[str]:
    for key_id, left in sorted(report.unknown_keys.items()):
        reason = f"left under key {key_id}, which is no longer in {NIR_KEYS_SETTING}"
        yield from _listed(left, reason)
    if report.not_authentic.count:
        reason = "left as they are: their ciphertext does not authenticate for their dossier"
        yield from _listed(report.not_authentic, reason)


def _listed(left: LeftBehind, reason: str) -> Iterator[str]:
    yield f"{left.count} NIR(s) {reason}:"
    yield from (f"  {id_dossier}" for id_dossier in left.id_dossiers)
    if left.count > len(left.id_dossiers):
        yield f"  … and {left.count - len(left.id_dossiers)} more"


def _why(report: RotationReport) -> str:
    """One sentence: why some rows were not rotated, and what the operator can do."""
    remedies = []
    if report.unknown_keys:
        remedies.append(
            f"put the missing key back in {NIR_KEYS_SETTING} (after the newest) and run "
            "`agora-bridge nir-keys rotate` again"
        )
    if report.not_authentic.count:
        remedies.append("a dossier whose NIR does not authenticate needs a newer snapshot")
    remedy = "; ".join(remedies)
    return f"{report.left_behind} NIR(s) could not be decrypted (listed above): {remedy}."
