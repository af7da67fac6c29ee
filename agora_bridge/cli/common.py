"""What every command shares: operator errors as one sentence, async bodies, debug mode."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.errors import OperatorError
from agora_bridge.storage import db
from agora_bridge.storage.db import is_refusal, refusal_cause

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseUnavailableError(OperatorError):
    pass


# Set by the root callback from `agora-bridge --debug …`, read by the commands' wrapper.
debug_mode: ContextVar[bool] = ContextVar("debug_mode", default=False)


def operator_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn an `OperatorError` into one sentence and exit status 2 (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except OperatorError as error:
            if debug_mode.get():
                raise
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def run_database_command(
    main: Coroutine[Any, Any, T],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run a command's async body (on a loop from `loop_factory`: uvloop's for `sync`); a
    database failure becomes an operator error."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)
    except (SQLAlchemyError, OSError) as error:
        raise DatabaseUnavailableError(f"the database failed: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    # A refused value's message may quote it (asyncpg: "invalid input for query argument $2:
    # …"): only its class and SQLSTATE are shown. Otherwise the first line (driver and reason:
    # connection refused, table missing) is what an operator needs; hide_parameters keeps the
    # statement's values out of the rest.
    if is_refusal(error):
        return f"it refused a value ({refusal_cause(error)})"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


async def in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one session of a migrated database, then release the engine."""
    engine = db.make_engine(url)
    try:
        await db.assert_at_head(engine)
        async with db.make_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()
