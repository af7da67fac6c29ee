"""`agora-bridge ledger …`: check the audit ledger's hash chain, print its head."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.cli.common import in_session, operator_errors, run_database_command
from agora_bridge.ledger.chain import Verdict
from agora_bridge.ledger.store import head, verify_ledger
from agora_bridge.settings import Settings

ledger_app = typer.Typer(help="The audit ledger (hash-chained).", no_args_is_help=True)


@ledger_app.command()
@operator_errors
def verify(
    anchor: Annotated[
        str | None,
        typer.Option(
            "--head", help="A head printed earlier by `ledger head`: it must be on the chain."
        ),
    ] = None,
) -> None:
    """Recompute the chain end to end; exit 1 naming the first broken entry."""
    verdict = run_database_command(in_session(Settings().database_url, _verify(anchor)))
    if verdict.intact:
        typer.echo(f"ledger intact: {verdict.entries} entries, head {verdict.head}")
        return
    where = f"entry {verdict.broken_at}: " if verdict.broken_at is not None else ""
    typer.echo(f"ledger broken: {where}{verdict.reason}", err=True)
    raise typer.Exit(1)


@ledger_app.command("head")
@operator_errors
def print_head() -> None:
    """Print the last entry's id, time and hash, to keep outside the database."""
    typer.echo(run_database_command(in_session(Settings().database_url, _head)))


def _verify(anchor: str | None) -> Callable[[AsyncSession], Awaitable[Verdict]]:
    async def read(session: AsyncSession) -> Verdict:
        return await verify_ledger(session, anchor=anchor)

    return read


async def _head(session: AsyncSession) -> str:
    last = await head(session)
    if last is None:
        return "the ledger is empty"
    return f"{last.id} {last.recorded_at.isoformat()} {last.hash}"
