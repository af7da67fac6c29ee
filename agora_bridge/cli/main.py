"""`agora-bridge`: one typer application; each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="agora-bridge",
    help="Connector between the Région's training-management system and AGORA.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
