"""Group commit, on SQLite and PostgreSQL: records of several workers in one transaction, each
fenced on its own claim; a failed fence drops that record alone, entries included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.delivery.claims import claim_due
from agora_bridge.delivery.recorder import (
    Attempt,
    CommitUnknown,
    IfCurrent,
    Record,
    Recorder,
    Written,
    _statements,
)
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import read_chain, verify_ledger
from agora_bridge.storage import executor
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.ingest import ingest_parsed
from agora_bridge.storage.livraisons import reopen
from agora_bridge.storage.models import Livraison
from agora_bridge.storage.retours import Evenement, Event, read_after
from tests.builders import snapshot
from tests.delivery.checks import in_order
from tests.delivery.harness import CRYPTO, delivery, historique, ingestion
from tests.delivery.watching import GroupCommitLost, Watched


def entry(id_dossier: str) -> Entry:
    return Entry(
        recorded_at=datetime.now(UTC),
        kind="agora.attempt",
        id_dossier=id_dossier,
        operation="Creer",
    )


async def test_one_failed_fence_drops_only_its_record(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    items = [(n, snapshot("VALIDE", id_dossier=f"PDL-{n}")) for n in range(1, 4)]
    await ingest_parsed(session_maker, items, ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        later = now + timedelta(minutes=1)
        claims = await claim_due(
            on_session(session), owner="A", now=later, lease=timedelta(hours=1), limit=3
        )
    tokens = {claim.id_dossier: claim.token for claim in claims}
    tokens["PDL-2"] = "not-the-claim"
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        results = await asyncio.gather(
            *(
                recorder.commit(Record(key, token, {"last_outcome": "X"}, [entry(key)]))
                for key, token in sorted(tokens.items())
            )
        )
    assert results == [1, None, 1]
    async with session_maker() as session:
        written = [link.entry.id_dossier async for link in read_chain(session)]
        assert (await verify_ledger(session)).intact
    assert written[-2:] == ["PDL-1", "PDL-3"]


def outcome(id_dossier: str) -> Entry:
    return Entry(recorded_at=datetime.now(UTC), kind="agora.outcome", id_dossier=id_dossier)


async def attempt_after_outcome(
    session_maker: async_sessionmaker[AsyncSession], *, generation: int, valid_at: datetime
) -> tuple[Written | None, Livraison, list[str]]:
    """PDL-1's outcome record carrying the next call's attempt (lease of an hour from now)."""
    await ingest_parsed(session_maker, [(1, snapshot("VALIDE", id_dossier="PDL-1"))], ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        (claim,) = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=1
        )
    renewed = valid_at + timedelta(hours=2)
    attempt = Attempt(
        {"last_attempt_at": valid_at, "lease_until": renewed, "last_outcome": "ATTEMPT"},
        entry("PDL-1"),
        generation,
        valid_at,
    )
    values = {"last_outcome": "SUCCES", "attempts": 0}
    record = Record("PDL-1", claim.token, values, [outcome("PDL-1")], attempt=attempt)
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        written = await recorder.write(record)
    async with session_maker() as session:
        item = await session.get(Livraison, "PDL-1")
        kinds: list[str] = [link.entry.kind async for link in read_chain(session)]
        assert (await verify_ledger(session)).intact
    assert item is not None
    return written, item, kinds[1:]  # after the ingest's decision


async def test_an_attempt_rides_on_an_outcome_when_generation_and_lease_hold(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    valid_at = datetime.now(UTC)
    written, item, kinds = await attempt_after_outcome(
        session_maker, generation=1, valid_at=valid_at
    )
    assert written == Written(1, attempted=True)
    assert item.last_outcome == "ATTEMPT"  # the attempt's value wins over the outcome's
    assert item.lease_until == valid_at + timedelta(hours=2)
    assert kinds == ["agora.outcome", "agora.attempt"]


async def test_an_attempt_planned_from_a_superseded_generation_is_not_recorded(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    written, item, kinds = await attempt_after_outcome(
        session_maker, generation=0, valid_at=datetime.now(UTC)
    )
    assert written == Written(1, attempted=False)
    assert (item.last_outcome, item.attempts, item.last_attempt_at) == ("SUCCES", 0, None)
    assert kinds == ["agora.outcome"]  # the outcome is durable, the attempt never happened


async def test_an_attempt_after_its_lease_lapsed_is_not_recorded(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    written, item, kinds = await attempt_after_outcome(
        session_maker, generation=1, valid_at=datetime.now(UTC) + timedelta(hours=3)
    )
    assert written == Written(1, attempted=False)
    assert item.last_outcome == "SUCCES"
    assert item.last_attempt_at is None
    assert kinds == ["agora.outcome"]


async def test_a_group_whose_commit_may_have_applied_is_not_written_again(
    session_maker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group committed but the answer was lost: retrying its records one by one (their
    fences still hold: each keeps its claim) would append their ledger entries and return-flow
    events a second time. The waiters get the failure instead; each entry exists once."""
    items = [(n, snapshot("VALIDE", id_dossier=f"PDL-{n}")) for n in (1, 2)]
    await ingest_parsed(session_maker, items, ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        claims = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=2
        )
    lost = GroupCommitLost(monkeypatch, count=1)
    records = [
        Record(
            claim.id_dossier,
            claim.token,
            {"last_outcome": "ATTEMPT"},  # the claim is kept: the fence holds on a retry
            [entry(claim.id_dossier)],
            retours=[Event(Evenement.RETENU, claim.id_dossier, 1, now, code="TEST")],
        )
        for claim in claims
    ]
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        results = await asyncio.gather(
            *(recorder.write(record) for record in records), return_exceptions=True
        )
    assert lost.left == 0
    async with session_maker() as session:
        attempts = [
            str(link.entry.id_dossier)
            async for link in read_chain(session)
            if link.entry.kind == "agora.attempt"
        ]
        assert (await verify_ledger(session)).intact
        events = await read_after(session, 0, 100)
    assert sorted(attempts) == ["PDL-1", "PDL-2"]  # committed once, not twice
    assert sorted(str(e.event.id_dossier) for e in events if e.event.code == "TEST") == [
        "PDL-1",
        "PDL-2",
    ]
    # Whether it applied is unknown: each pass fails, its claim lapses and is read back.
    assert all(isinstance(result, Exception) for result in results), results


async def test_a_terminal_value_applies_only_at_the_generation_it_was_planned_from(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """`IfCurrent`: the value while the item is at that generation, `otherwise` after a newer
    snapshot; both records go through the same prepared statement."""
    items = [(n, snapshot("VALIDE", id_dossier=f"PDL-{n}")) for n in (1, 2)]
    await ingest_parsed(session_maker, items, ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        claims = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=2
        )
    planned = {"PDL-1": 1, "PDL-2": 0}  # PDL-2 was planned from an older generation
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        for claim in claims:
            values = {
                "etat": IfCurrent("A_JOUR", planned[claim.id_dossier], "A_FAIRE"),
                "motif_retenue": IfCurrent("X", planned[claim.id_dossier]),
                "lease_owner": None,
            }
            assert await recorder.commit(Record(claim.id_dossier, claim.token, values)) == 1
    async with session_maker() as session:
        one, two = [await session.get(Livraison, key) for key in ("PDL-1", "PDL-2")]
        assert one is not None
        assert two is not None
        assert (one.etat, one.motif_retenue, one.lease_owner) == ("A_JOUR", "X", None)
        assert (two.etat, two.motif_retenue, two.lease_owner) == ("A_FAIRE", None, None)


async def test_passes_whose_commit_was_lost_end_without_sending_and_are_read_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: three group commits lose their answer during delivery; those passes stop
    (nothing sent on an attempt whose commit is unknown), their claims lapse, the next passes
    read AGORA back. Every dossier is on AGORA once, in order, and no ledger entry is doubled."""
    async with delivery(database_url, lease_s=0.3) as bridge:
        keys = [f"PDL-{n}" for n in range(6)]
        await bridge.ingest(*(snapshot("SOLDE", id_dossier=key) for key in keys))
        lost = GroupCommitLost(monkeypatch, count=3)
        await bridge.drain(timeout_s=60)
        assert lost.left == 0
        agora = await bridge.on_agora()
        assert sorted(agora) == keys
        for key in keys:
            assert in_order(historique(agora[key])), historique(agora[key])
        stats = await bridge.stats()
        assert stats["creations_refusees_existant"] == 0
        assert stats["transitions_deja_appliquees"] == 0
        async with bridge.sessions() as session:
            links = [link async for link in read_chain(session)]
            assert (await verify_ledger(session)).intact
    facts = [(link.entry.kind, link.entry.request_id, link.entry.code) for link in links]
    with_ids = [fact for fact in facts if fact[1] is not None]
    assert len(with_ids) == len(set(with_ids))  # no attempt nor outcome written twice


async def test_a_waiter_gone_meanwhile_does_not_stop_the_recorder(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """A worker cancelled while its group commits (a tick or `serve` shutting down) leaves a
    cancelled future: the group's failure must not be set on it, else the recorder's task
    dies of `InvalidStateError` and every later write waits for ever."""
    await ingest_parsed(session_maker, [(1, snapshot("VALIDE", id_dossier="PDL-1"))], ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        (claim,) = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=1
        )
    record = Record(claim.id_dossier, claim.token, {"last_outcome": "TEST"})
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        real_write = recorder._write
        committing, answer_lost = asyncio.Event(), asyncio.Event()

        async def first_commit_lost(records: list[Record]) -> list[Written | None]:
            if not answer_lost.is_set():
                committing.set()
                await answer_lost.wait()
                raise CommitUnknown("ConnectionResetError")
            return await real_write(records)

        recorder._write = first_commit_lost  # type: ignore[method-assign]
        waiter = asyncio.create_task(recorder.write(record))
        await committing.wait()
        waiter.cancel()
        answer_lost.set()
        async with asyncio.timeout(10):
            written = await recorder.write(record)
    assert written is not None
    assert written.generation == claim.generation


async def test_a_run_of_records_in_one_round_trip_keeps_each_rows_conditions(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """Five records of one shape (an outcome carrying the next attempt) in one group: one run
    of one statement (on PostgreSQL's driver one pipelined round trip). Each row keeps its own
    fence and
    conditions: a newer generation's item and a lapsed lease's keep their attempt out, a lost
    claim's item is untouched, and the group's ledger entries are those of the rows written."""
    keys = [f"PDL-{n}" for n in range(1, 6)]
    await ingest_parsed(
        session_maker,
        [(n, snapshot("VALIDE", id_dossier=k)) for n, k in enumerate(keys)],
        ingestion(),
    )
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        claims = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=5
        )
        await reopen(session, upsert=["PDL-2"], existing=[], now=now)  # a newer snapshot
    tokens = {claim.id_dossier: claim.token for claim in claims}
    tokens["PDL-4"] = "a-lost-claim"
    lapsed = {"PDL-3": now + timedelta(hours=2)}  # its lease ends before the call would leave

    def record(key: str) -> Record:
        valid_at = lapsed.get(key, now)
        values = {"last_attempt_at": valid_at, "lease_until": valid_at + timedelta(hours=3)}
        attempt = Attempt(values | {"last_outcome": "ATTEMPT"}, entry(key), 1, valid_at)
        return Record(key, tokens[key], {"last_outcome": "SUCCES"}, [outcome(key)], attempt=attempt)

    # The recorder's own transaction: asyncpg's on PostgreSQL, a session's on SQLite.
    async with executor.begin(session_maker) as transaction:
        watched = Watched(transaction)
        results = await _statements(watched, [record(key) for key in keys], {})
        await transaction.commit()
    assert watched.runs == [5]
    assert results == [
        Written(1, attempted=True),
        Written(2, attempted=False),  # a newer generation: the attempt is not recorded
        Written(1, attempted=False),  # the lease lapsed: the attempt is not recorded
        None,  # the claim is lost: nothing written
        Written(1, attempted=True),
    ]
    async with session_maker() as session:
        items = {key: await session.get(Livraison, key) for key in keys}
        chain = [(link.entry.id_dossier, link.entry.kind) async for link in read_chain(session)]
        assert (await verify_ledger(session)).intact
    outcomes = {key: item.last_outcome for key, item in items.items() if item is not None}
    assert outcomes == {
        "PDL-1": "ATTEMPT",
        "PDL-2": "SUCCES",
        "PDL-3": "SUCCES",
        "PDL-4": None,
        "PDL-5": "ATTEMPT",
    }
    attempted_at = [item.last_attempt_at for item in items.values() if item is not None]
    assert attempted_at[1:4] == [None, None, None]
    assert chain[-6:] == [
        ("PDL-1", "agora.outcome"),
        ("PDL-1", "agora.attempt"),
        ("PDL-2", "agora.outcome"),
        ("PDL-3", "agora.outcome"),
        ("PDL-5", "agora.outcome"),
        ("PDL-5", "agora.attempt"),
    ]


async def test_a_run_the_database_refuses_is_retried_record_by_record(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """One row of a run breaks a constraint (on PostgreSQL, inside the pipelined round trip):
    the group rolls back and goes again record by record; only the bad record fails."""
    keys = [f"PDL-{n}" for n in range(1, 4)]
    items = [(n, snapshot("VALIDE", id_dossier=key)) for n, key in enumerate(keys)]
    await ingest_parsed(session_maker, items, ingestion())
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        claims = await claim_due(
            on_session(session), owner="A", now=now, lease=timedelta(hours=1), limit=3
        )
    etats = {"PDL-1": "A_JOUR", "PDL-2": "A_JOUR", "PDL-3": "NOT-A-STATE"}
    async with Recorder(session_maker, CRYPTO, lambda: now) as recorder:
        results = await asyncio.gather(
            *(
                recorder.commit(
                    Record(c.id_dossier, c.token, {"etat": IfCurrent(etats[c.id_dossier], 1)})
                )
                for c in sorted(claims, key=lambda c: c.id_dossier)
            ),
            return_exceptions=True,
        )
    assert results[:2] == [1, 1]
    assert isinstance(results[2], Exception)
    async with session_maker() as session:
        states = [(await session.get(Livraison, key)) for key in keys]
        assert [item.etat for item in states if item is not None] == ["A_JOUR", "A_JOUR", "A_FAIRE"]
