"""`agora-bridge orgs …` and `agora-bridge keys …`: the API's callers and their keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.cli.common import in_session, operator_errors, run_database_command
from agora_bridge.settings import Settings
from agora_bridge.storage.callers import (
    NewOrganisation,
    Role,
    StructureType,
    add_organisation,
    create_key,
    list_organisations,
    revoke_key,
)
from agora_bridge.storage.models import Organisation

T = TypeVar("T")

orgs_app = typer.Typer(help="Organisations calling the HTTP API.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of the organisations.", no_args_is_help=True)


def _committed(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction of the configured, migrated database."""

    async def in_transaction(session: AsyncSession) -> T:
        async with session.begin():
            return await work(session)

    return run_database_command(in_session(Settings().database_url, in_transaction))


@orgs_app.command("add")
@operator_errors
def add(
    name: Annotated[str, typer.Option("--nom", "--name", help="The organisation's name")],
    role: Annotated[Role, typer.Option(help="What it may call")],
    siret: Annotated[str | None, typer.Option(help="ORGANISME: its SIRET")] = None,
    code: Annotated[
        str | None, typer.Option("--code", "--structure-code", help="PRESCRIPTEUR: its code")
    ] = None,
    kind: Annotated[
        StructureType | None,
        typer.Option("--type", "--structure-type", help="PRESCRIPTEUR: its type"),
    ] = None,
) -> None:
    """Add an organisation; its id is printed on the last line."""
    new = NewOrganisation(name, role, siret, code, kind)
    now = datetime.now(UTC)
    typer.echo(_committed(lambda session: add_organisation(session, new, now=now)))


@orgs_app.command("list")
@operator_errors
def list_() -> None:
    """List the organisations, one a line, tab-separated: id, role, identifiers, created, name."""
    for organisation in _committed(list_organisations):
        fields = (
            organisation.id,
            organisation.role,
            _identifiers(organisation) or "-",
            organisation.created_at.isoformat(timespec="seconds"),
            organisation.name,
        )
        typer.echo("\t".join(fields))


def _identifiers(organisation: Organisation) -> str:
    if organisation.siret:
        return organisation.siret
    if organisation.structure_code:
        return f"{organisation.structure_code} ({organisation.structure_type})"
    return ""


@keys_app.command("create")
@operator_errors
def create(
    org: Annotated[str, typer.Option("--org", help="The organisation's id (`orgs add`)")],
) -> None:
    """Create a key: printed once, on the last line; only its hash is stored."""
    now = datetime.now(UTC)
    key = _committed(lambda session: create_key(session, org, now=now))
    typer.echo("Keep this key now: it is shown once and cannot be recovered.", err=True)
    typer.echo(key)


@keys_app.command("revoke")
@operator_errors
def revoke(
    key_or_id: Annotated[str, typer.Argument(help="The whole key, or its id")],
) -> None:
    """Revoke a key: refused by every replica within 5 seconds."""
    now = datetime.now(UTC)
    key_id = _committed(lambda session: revoke_key(session, key_or_id, now=now))
    typer.echo(f"key {key_id} revoked")
