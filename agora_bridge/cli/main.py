"""`agora-bridge`: one typer application; each command group lives in its own module."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agora_bridge.cli import validate
from agora_bridge.errors import OperatorError

app = typer.Typer(
    name="agora-bridge",
    help="Connector between the Région's training-management system and AGORA.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False,
) -> None:
    ctx.obj = {"debug": debug}


app.command()(validate.validate)

from agora_bridge.cli.db import db_app  # noqa: E402
from agora_bridge.cli.nir_keys import nir_keys_app  # noqa: E402

app.add_typer(db_app, name="db")
app.add_typer(nir_keys_app, name="nir-keys")


def run() -> None:
    """The console entry point: operator errors are one sentence and exit 2, no traceback."""
    try:
        app()
    except OperatorError as exc:
        if "--debug" in sys.argv:
            raise
        print(f"agora-bridge: {exc}", file=sys.stderr)
        sys.exit(2)
