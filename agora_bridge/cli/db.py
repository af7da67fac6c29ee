"""`agora-bridge db …`: the schema's migrations."""

from __future__ import annotations

import typer

from agora_bridge.cli.common import operator_errors, run_database_command
from agora_bridge.settings import Settings
from agora_bridge.storage import db

db_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@db_app.command()
@operator_errors
def upgrade() -> None:
    """Migrate the database to the newest revision."""
    revisions = run_database_command(_upgrade(Settings().database_url))
    typer.echo(f"database at head: {', '.join(revisions)}")


@db_app.command()
@operator_errors
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    revisions = run_database_command(_current(Settings().database_url))
    heads = db.head_revisions()
    shown = ", ".join(revisions) or "none"
    if set(revisions) == set(heads):
        typer.echo(f"current revision: {shown} (head)")
    else:
        typer.echo(
            f"current revision: {shown}, not the head ({', '.join(heads)}): "
            "run `agora-bridge db upgrade`"
        )


async def _upgrade(url: str) -> tuple[str, ...]:
    engine = db.make_engine(url)
    try:
        await db.upgrade(engine)
        return await db.current_revisions(engine)
    finally:
        await engine.dispose()


async def _current(url: str) -> tuple[str, ...]:
    engine = db.make_engine(url)
    try:
        return await db.current_revisions(engine)
    finally:
        await engine.dispose()
