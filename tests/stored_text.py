"""What a test database holds, as bytes to search for personal data: a SQLite database's
files as they are on disk (the main file and its WAL, so freed pages and old frames too), a
PostgreSQL database's every row of every table as text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from agora_bridge.storage.db import make_engine


async def stored_bytes(url: str) -> bytes:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        main = Path(parsed.database)
        return b"".join(path.read_bytes() for path in sorted(main.parent.glob(main.name + "*")))
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_rows_as_text)
    finally:
        await engine.dispose()


def _rows_as_text(connection: Connection) -> bytes:
    lines = []
    for table in inspect(connection).get_table_names():
        # A row cast to text shows every column, bytea as hex: nothing is left out.
        rows = connection.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
        lines += [f"{table}: {line}" for line in rows]
    return "\n".join(lines).encode()


def how_many_in(stored: bytes, values: Iterable[str]) -> int:
    """How many of `values` `stored` holds, as UTF-8 or as JSON escapes them (non-ASCII as
    \\uXXXX)."""
    found = 0
    for value in values:
        escaped = value.encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")
        found += value.encode() in stored or escaped.encode() in stored
    return found


def assert_absent(stored: bytes, values: Iterable[str]) -> None:
    """Fail with how many were found, never with the values or `stored`: pytest prints the
    arguments of a call in a failing `assert`, and they are personal data."""
    __tracebackhide__ = True  # nor this frame's arguments, which pytest would print too
    found = how_many_in(stored, values)
    if found:
        raise AssertionError(f"{found} personal value(s) found")
