"""The ledger in the database, on SQLite and PostgreSQL: appends chain, race without forking,
and `verify_ledger` names the entry an edit made directly in the database broke."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta, timezone

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.ledger.chain import GENESIS, Entry, Verdict
from agora_bridge.ledger.store import append, head_hash, read_chain, verify_ledger
from agora_bridge.storage.executor import on_session
from tests.ledger.test_chain import T0, entry


async def _append(session_maker: async_sessionmaker[AsyncSession], entries: list[Entry]) -> None:
    async with session_maker() as session, session.begin():
        await append(on_session(session), entries)


async def verify_ledger_of(session_maker: async_sessionmaker[AsyncSession]) -> Verdict:
    async with session_maker() as session:
        return await verify_ledger(session)


async def _execute(session_maker: async_sessionmaker[AsyncSession], sql: str) -> None:
    async with session_maker() as session, session.begin():
        await session.execute(text(sql))


async def test_appends_in_several_transactions_make_one_chain(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    async with session_maker() as session:
        assert await head_hash(on_session(session)) == GENESIS
    await _append(session_maker, [entry(1), entry(2)])
    await _append(session_maker, [])
    await _append(session_maker, [entry(3)])
    async with session_maker() as session:
        verdict = await verify_ledger(session)
        assert (verdict.intact, verdict.entries) == (True, 3)
        assert verdict.head == await head_hash(on_session(session))


async def test_a_large_append_stores_every_entry_as_given_in_its_order(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """One append's rows go as one value (arrays, or a JSON array on SQLite): each field comes
    back as it was, None and non-ASCII text included, ids in the chain's order."""
    entries = [
        replace(entry(number), code="RETENU:NIR_ABSENT" if number % 3 else None)
        for number in range(1, 1201)
    ]
    entries[7] = Entry(recorded_at=T0.astimezone(timezone(timedelta(hours=2))), kind="dossier.hold")
    entries[8] = replace(entries[8], id_dossier="PDL-é", operation="Créer", body_digest="ab" * 32)
    await _append(session_maker, entries)
    async with session_maker() as session:
        stored = [link async for link in read_chain(session)]
        verdict = await verify_ledger(session)
    assert [link.entry for link in stored] == entries
    assert [link.id for link in stored] == sorted(link.id for link in stored)
    assert (verdict.intact, verdict.entries) == (True, len(entries))


async def test_a_rolled_back_append_leaves_no_entry(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await _append(session_maker, [entry(1)])
    async with session_maker() as session, session.begin():
        await append(on_session(session), [entry(2)])
        await session.rollback()
    verdict = await verify_ledger_of(session_maker)
    assert (verdict.intact, verdict.entries) == (True, 1)


async def test_concurrent_appenders_never_fork_the_chain(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    # On PostgreSQL each writer has its own connection, so without the advisory lock two
    # would read the same head; on SQLite BEGIN IMMEDIATE serialises them.
    writers = [_append(session_maker, [entry(10 * w + n) for n in range(3)]) for w in range(12)]
    await asyncio.gather(*writers)
    verdict = await verify_ledger_of(session_maker)
    assert verdict.intact, verdict.reason
    assert verdict.entries == 36


async def test_an_altered_row_is_named(session_maker: async_sessionmaker[AsyncSession]) -> None:
    await _append(session_maker, [entry(n) for n in range(1, 6)])
    await _execute(session_maker, "UPDATE ledger_entry SET http_status = 201 WHERE id = 3")
    verdict = await verify_ledger_of(session_maker)
    assert (verdict.intact, verdict.broken_at) == (False, 3)
    assert "altered" in (verdict.reason or "")


async def test_a_deleted_row_is_named_by_the_next(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await _append(session_maker, [entry(n) for n in range(1, 6)])
    await _execute(session_maker, "DELETE FROM ledger_entry WHERE id = 2")
    verdict = await verify_ledger_of(session_maker)
    assert (verdict.intact, verdict.broken_at) == (False, 3)


async def test_an_inserted_row_is_named(session_maker: async_sessionmaker[AsyncSession]) -> None:
    await _append(session_maker, [entry(n) for n in range(1, 4)])
    # A copy of entry 2 slipped in after the chain: it claims entry 1 as its predecessor.
    await _execute(
        session_maker,
        "INSERT INTO ledger_entry (id, recorded_at, kind, id_dossier, version, operation,"
        " request_id, http_status, code, body_digest, prev_hash, hash)"
        " SELECT 10, recorded_at, kind, id_dossier, version, operation, request_id,"
        " http_status, code, body_digest, prev_hash, 'f' || substr(hash, 2)"
        " FROM ledger_entry WHERE id = 2",
    )
    verdict = await verify_ledger_of(session_maker)
    assert (verdict.intact, verdict.broken_at) == (False, 10)
