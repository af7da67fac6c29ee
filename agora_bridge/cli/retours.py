"""`agora-bridge retours [--since CURSOR]`: the return flow as JSON Lines, for a Région system
that integrates files. Each line is one event with its own cursor, the same object as the
HTTP feed's items: pass any line's cursor to `--since` to resume after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.api.retours import as_item
from agora_bridge.cli.common import in_session, operator_errors, run_database_command
from agora_bridge.errors import OperatorError
from agora_bridge.settings import Settings
from agora_bridge.storage.db import reading
from agora_bridge.storage.retours import InvalidCursor, decode_cursor, read_after

# Events read per query: memory stays flat whatever the feed's length.
PAGE = 1000


class InvalidCursorError(OperatorError):
    pass


@operator_errors
def retours(
    since: Annotated[
        str | None,
        typer.Option("--since", help="A cursor printed earlier: print the events after it."),
    ] = None,
) -> None:
    """Print the return flow's events after CURSOR (from the start without it), oldest first,
    one JSON object a line, then exit."""
    try:
        position = decode_cursor(since)
    except InvalidCursor:
        raise InvalidCursorError("--since is not a cursor this feed printed") from None
    run_database_command(in_session(Settings().database_url, _printer(position)))


def _printer(position: int) -> Callable[[AsyncSession], Awaitable[None]]:
    async def print_after(session: AsyncSession) -> None:
        await reading(session)  # SQLite: no write lock held while printing
        after = position
        while page := await read_after(session, after, PAGE):
            typer.echo("\n".join(as_item(stored).model_dump_json() for stored in page))
            after = page[-1].id
            session.expunge_all()

    return print_after
