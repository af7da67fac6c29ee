"""`agora-bridge`: one typer application; each command group lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from agora_bridge.cli import demo, reconcile, sync, validate
from agora_bridge.cli.backfill import backfill
from agora_bridge.cli.callers import keys_app, orgs_app
from agora_bridge.cli.common import debug_mode, operator_errors
from agora_bridge.cli.db import db_app
from agora_bridge.cli.doc_mapping import doc_mapping
from agora_bridge.cli.import_file import import_file
from agora_bridge.cli.ledger import ledger_app
from agora_bridge.cli.mock_agora import mock_agora
from agora_bridge.cli.nir_keys import nir_keys_app
from agora_bridge.cli.pacte_report import pacte_report
from agora_bridge.cli.retours import retours
from agora_bridge.cli.serve import serve
from agora_bridge.logs import configure_logging
from agora_bridge.settings import Settings

app = typer.Typer(
    name="agora-bridge",
    help="Connector between the Région's training-management system and AGORA.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False,
) -> None:
    debug_mode.set(debug)
    settings = Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)


app.command()(operator_errors(validate.validate))
app.command("mock-agora")(mock_agora)
app.command()(operator_errors(demo.demo))
app.command("sync")(sync.sync)
app.command("replay")(sync.replay)
app.command("reconcile")(operator_errors(reconcile.reconcile))
app.command("pacte-report")(operator_errors(pacte_report))
app.command("retours")(retours)
app.add_typer(db_app, name="db")
app.add_typer(nir_keys_app, name="nir-keys")
app.add_typer(ledger_app, name="ledger")
app.command("import")(operator_errors(import_file))
app.command()(operator_errors(backfill))
app.command()(operator_errors(serve))
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
app.command("doc-mapping")(doc_mapping)
