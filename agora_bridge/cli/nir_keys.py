"""`agora-bridge nir-keys …`: the keys that encrypt stored NIRs."""

from __future__ import annotations

from typing import Annotated

import typer

from agora_bridge.cli.common import operator_errors, run_database_command
from agora_bridge.settings import Settings
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto, new_index_key, new_key_line
from agora_bridge.storage.dossiers import rotate_nir_keys

nir_keys_app = typer.Typer(help="Keys that encrypt stored NIRs.", no_args_is_help=True)


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
    """Re-encrypt every stored NIR under the newest key of AGORA_BRIDGE_NIR_KEYS."""
    settings = Settings()
    count, key_id = run_database_command(_rotate(settings, batch_size))
    typer.echo(f"{count} NIR(s) re-encrypted under key {key_id}")


async def _rotate(settings: Settings, batch_size: int) -> tuple[int, str]:
    # Inside the coroutine so that a configuration error gets the one-sentence treatment.
    crypto = NirCrypto.from_settings(settings)
    engine = db.make_engine(settings.database_url)
    try:
        await db.assert_at_head(engine)
        count = await rotate_nir_keys(db.make_sessionmaker(engine), crypto, batch_size=batch_size)
        return count, crypto.newest_key_id
    finally:
        await engine.dispose()
