"""The return flow's store: cursors, events recorded and read back, REPRIS derived, messages
redacted; and, on PostgreSQL, why an id cursor neither skips nor repeats an event (ids are
drawn under the ledger's lock, so in commit order) — with the control that shows the skip
a plain sequence allows."""

from __future__ import annotations

import asyncio
import base64
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.event import listen
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.ledger.store import append
from agora_bridge.storage.db import make_engine, make_sessionmaker, upgrade
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.models import Retour
from agora_bridge.storage.retours import (
    Evenement,
    Event,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    read_after,
    record,
)
from tests.conftest import throwaway_pg_database
from tests.ledger.test_chain import entry
from tests.storage.builders import NIR

LE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def event(
    evenement: Evenement, id_dossier: str = "PDL-1", version: int = 1, **fields: object
) -> Event:
    return Event(evenement, id_dossier, version, LE, **fields)  # type: ignore[arg-type]


async def record_alone(sessions: async_sessionmaker[AsyncSession], *events: Event) -> None:
    async with sessions() as session, session.begin():
        await record(on_session(session), events)


async def everything(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str | None]]:
    async with sessions() as session:
        return [(s.event.evenement.value, s.event.code) for s in await read_after(session, 0, 1000)]


# ---- Cursors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 42, 2**63 - 1])
def test_a_cursor_gives_back_its_position(position: int) -> None:
    assert decode_cursor(encode_cursor(position)) == position


def test_no_cursor_is_the_start() -> None:
    assert decode_cursor(None) == decode_cursor("") == 0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("latin-1")


@pytest.mark.parametrize(
    "cursor",
    [
        "42",  # a bare id: not opaque
        "r1:42",  # not encoded
        "!!!!",  # not base64
        _b64(b"r1:-1"),
        _b64(b"r1:+5"),
        _b64(b"r1:007"),  # not canonical: two cursors for one position
        _b64(b"r1: 5"),
        _b64(b"r2:5"),
        _b64(b"r1:"),
        _b64(b"r1:\xff"),
        _b64(f"r1:{2**63}".encode()),  # beyond a 64-bit id
        encode_cursor(5) + "=",
    ],
)
def test_a_cursor_the_feed_never_gave_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


# ---- Recording ---------------------------------------------------------------------------------


async def test_events_are_read_back_in_order_after_a_cursor(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await record_alone(session_maker, event(Evenement.RETENU, code="NIR_ABSENT"))
    await record_alone(
        session_maker,
        event(Evenement.REJETE, "PDL-2", code="SIRET_INVALIDE", message="inconnu"),
        event(Evenement.ID_AGORA_ATTRIBUE, "PDL-3", id_agora="AG-1", statut="VALIDE"),
    )
    async with session_maker() as session:
        first = await read_after(session, 0, 2)
        rest = await read_after(session, first[-1].id, 10)
    assert [s.event.id_dossier for s in first + rest] == ["PDL-1", "PDL-2", "PDL-3"]
    assert [s.id for s in first + rest] == sorted(s.id for s in first + rest)
    assert rest[0].event == event(
        Evenement.ID_AGORA_ATTRIBUE, "PDL-3", id_agora="AG-1", statut="VALIDE"
    )
    assert decode_cursor(rest[0].cursor) == rest[0].id
    async with session_maker() as session:
        assert await read_after(session, rest[-1].id, 10) == []


async def test_a_success_after_a_rejection_or_a_hold_is_reported_as_resumed(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await record_alone(session_maker, event(Evenement.REJETE, code="SIRET_INVALIDE"))
    await record_alone(session_maker, event(Evenement.RETENU, "PDL-2", code="NIR_ABSENT"))
    await record_alone(
        session_maker,
        event(Evenement.ETAT_ACQUITTE, code="Entrer"),
        event(Evenement.ETAT_ACQUITTE, code="Sortir"),  # the same batch: resumed already
        event(Evenement.ID_AGORA_ATTRIBUE, "PDL-2", code="Creer"),
        event(Evenement.ETAT_ACQUITTE, "PDL-3", code="Entrer"),  # never blocked
    )
    assert await everything(session_maker) == [
        ("REJETE", "SIRET_INVALIDE"),
        ("RETENU", "NIR_ABSENT"),
        ("REPRIS", "SIRET_INVALIDE"),
        ("ETAT_ACQUITTE", "Entrer"),
        ("ETAT_ACQUITTE", "Sortir"),
        ("REPRIS", "NIR_ABSENT"),
        ("ID_AGORA_ATTRIBUE", "Creer"),
        ("ETAT_ACQUITTE", "Entrer"),
    ]


async def test_the_success_of_a_version_older_than_the_hold_is_no_resumption(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """v1's answer lands after v2 was held at ingest: v2 is still held, so no REPRIS, until
    a success of v2 (or later)."""
    await record_alone(session_maker, event(Evenement.RETENU, version=2, code="NIR_INVALIDE"))
    await record_alone(session_maker, event(Evenement.ETAT_ACQUITTE, version=1, code="Entrer"))
    await record_alone(session_maker, event(Evenement.ETAT_ACQUITTE, version=3, code="Sortir"))
    assert await everything(session_maker) == [
        ("RETENU", "NIR_INVALIDE"),
        ("ETAT_ACQUITTE", "Entrer"),
        ("REPRIS", "NIR_INVALIDE"),
        ("ETAT_ACQUITTE", "Sortir"),
    ]


async def test_a_rejection_and_its_success_in_one_batch_give_a_resumption(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await record_alone(
        session_maker,
        event(Evenement.RETENU, code="RETOUR_ARRIERE"),
        event(Evenement.ETAT_ACQUITTE, code="Rectifier"),
    )
    assert [e for e, _ in await everything(session_maker)] == ["RETENU", "REPRIS", "ETAT_ACQUITTE"]


async def test_agora_s_message_is_stored_with_nir_shaped_text_redacted(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    await record_alone(
        session_maker, event(Evenement.REJETE, code="NIR_INVALIDE", message=f"NIR {NIR} refusé")
    )
    async with session_maker() as session:
        (stored,) = await read_after(session, 0, 10)
    assert stored.event.message is not None
    assert NIR not in stored.event.message
    assert NIR[:13] not in stored.event.message
    assert stored.event.message.startswith("NIR ")


# ---- Ids in commit order (PostgreSQL) -----------------------------------------------------


async def _insert_unlocked(session: AsyncSession, id_dossier: str) -> None:
    row = {"evenement": "RETENU", "id_dossier": id_dossier, "recorded_at": LE}
    await session.execute(insert(Retour), [row])


async def test_without_the_lock_a_plain_id_cursor_skips_an_event_committed_late() -> None:
    """The control: the hazard the lock removes is real on this server."""
    async with throwaway_pg_database() as url:
        engine = make_engine(url)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as slow, sessions() as fast, sessions() as reader:
                await slow.begin()
                await _insert_unlocked(slow, "SLOW")  # draws the smaller id
                async with fast.begin():
                    await _insert_unlocked(fast, "FAST")
                seen = await read_after(reader, 0, 10)
                await reader.commit()
                await slow.commit()
                later = await read_after(reader, seen[-1].id, 10)
            assert [s.event.id_dossier for s in seen] == ["FAST"]
            assert later == []  # SLOW is behind the cursor: skipped
        finally:
            await engine.dispose()


async def test_with_the_lock_a_writer_waits_for_the_one_before_to_commit() -> None:
    async with throwaway_pg_database() as url:
        engine = make_engine(url)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as slow, sessions() as fast:
                await slow.begin()
                await record(on_session(slow), [event(Evenement.RETENU, "SLOW")])

                async def fast_writer() -> None:
                    async with fast.begin():
                        await record(on_session(fast), [event(Evenement.RETENU, "FAST")])

                writing = asyncio.create_task(fast_writer())
                await asyncio.sleep(0.3)
                assert not writing.done()  # it waits for the lock, before drawing an id
                await slow.commit()
                await asyncio.wait_for(writing, 5)
            async with sessions() as reader:
                stored = await read_after(reader, 0, 10)
            assert [s.event.id_dossier for s in stored] == ["SLOW", "FAST"]
        finally:
            await engine.dispose()


async def test_a_follower_sees_every_event_once_while_writers_commit_concurrently() -> None:
    """Eight writers, each holding its transaction open a random while after recording; a
    follower reading with its cursor meanwhile ends with exactly the table, in id order."""
    rng = random.Random(3)
    async with throwaway_pg_database() as url:
        engine = make_engine(url)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        done = asyncio.Event()

        async def writer(n: int) -> None:
            for batch in range(12):
                async with sessions() as session, session.begin():
                    events = [event(Evenement.RETENU, f"W{n}-{batch}-{k}") for k in range(3)]
                    await record(on_session(session), events)
                    await asyncio.sleep(rng.uniform(0, 0.01))

        async def follower() -> list[int]:
            seen: list[int] = []
            while True:
                finished = done.is_set()
                async with sessions() as session:
                    page = await read_after(session, seen[-1] if seen else 0, 50)
                seen += [s.id for s in page]
                if finished and not page:
                    return seen
                await asyncio.sleep(0.001)

        try:
            following = asyncio.create_task(follower())
            await asyncio.gather(*(writer(n) for n in range(8)))
            done.set()
            seen = await asyncio.wait_for(following, 30)
            async with sessions() as session:
                table = [s.id for s in await read_after(session, 0, 10_000)]
            assert len(table) == 8 * 12 * 3
            assert seen == table
        finally:
            await engine.dispose()


async def test_the_ledger_s_lock_is_taken_once_a_transaction() -> None:
    """Ingest and the recorder append to the ledger, then record events: one lock statement
    each time, and a new transaction takes it again."""
    async with throwaway_pg_database() as url:
        engine = make_engine(url)
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        statements: list[str] = []

        def seen(*args: object) -> None:
            statements.append(str(args[2]))

        listen(engine.sync_engine, "before_cursor_execute", seen)
        try:
            for _ in range(2):
                async with sessions() as session, session.begin():
                    await append(on_session(session), [entry(1)])
                    await record(on_session(session), [event(Evenement.RETENU)])
                    await record(on_session(session), [event(Evenement.RETENU, "PDL-2")])
            assert sum("pg_advisory_xact_lock" in s for s in statements) == 2
        finally:
            await engine.dispose()
