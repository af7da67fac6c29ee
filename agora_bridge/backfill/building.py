"""The backfill's pure CPU work, optionally in a pool of processes: reading lines (parse,
validate, classify, seal the identity) and building lot lines from stored dossiers.

Reading: chunks of lines go to the workers a few ahead of the ingest, and come back in file
order, each line a `Rejection` or a `ValidLine` whose snapshot is `Sealed` (payload and
encrypted identity columns ready to store): line numbers, "highest version wins" and the
ledger's decisions are the ingest's, as without a pool.

A set-aside dossier as stored (its payload, its encrypted identity) becomes its lot line and,
computed at the same time from the same line, the acknowledged state the line creates when
AGORA accepts it (`delivery/acknowledged.py`'s encoding and titulaire digest): the
compte-rendu then needs no second encoding of the dossier.

With `workers` > 0 the rows go to that many processes in chunks, and the results come back in
the rows' order (the lot's line numbers are positions). The workers seal and decrypt
identities themselves: the key ring is passed once when they start, and no NIR of a stored
dossier crosses a pipe (a line read does, as the file's bytes).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any, NamedTuple

from agora_bridge.agora.mapping import lot_line
from agora_bridge.decision.dossier import AgoraDossier
from agora_bridge.decision.planner import plan_target, project
from agora_bridge.delivery import acknowledged
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import Classement, Classification, Perimeter, classify
from agora_bridge.snapshots.validation import Rejection, paris_today, parse_line
from agora_bridge.storage import identity
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.dossiers import Sealed, seal
from agora_bridge.storage.ingest import ValidLine

# Rows sent to a worker at a time: large enough that pickling and scheduling are small
# beside the work (~0.3 ms a row), small enough that two workers share a lot of 5,000.
CHUNK = 1000
# Lines read a chunk at a time, this many chunks ahead of the ingest: the workers parse while
# this process stores, and memory holds a few thousand lines whatever the file.
LINE_CHUNK = 1000
AHEAD = 4


# What crosses the pipe is tuples (NamedTuple): a slots dataclass pickles through
# `dataclasses.fields()` per object, which cost more than the work on a lot's rows.


class StoredRow(NamedTuple):
    """The columns of a set-aside dossier that its lot line needs."""

    id_dossier: str
    classement: str
    payload: dict[str, Any]
    key_id: str
    blob: bytes


class Ack(NamedTuple):
    """The acknowledged state (`etat_agora` columns) AGORA holds once it accepts a line:
    `acquitte` as JSON text (a lot holds thousands while it is on AGORA: text is a quarter
    of the dict's memory), `titulaire_index` the titulaire's digest."""

    acquitte: str
    titulaire_index: str
    statut: str

    def acquitte_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.acquitte)
        return loaded


class Built(NamedTuple):
    """A lot line and what AGORA holds once it accepts it."""

    line: bytes
    ack: Ack


# A hold reason (the planner would hold it), or None (no longer sendable).
Result = Built | str | None


def build(row: StoredRow, code_financeur: str, crypto: NirCrypto, today: date) -> Result:
    """`today`: the Région's day (`paris_today()`), against which a step dated later is held
    (`delivery.decisions.next_plan`): read once for the rows of a lot."""
    if row.classement != Classement.ENVOYABLE:
        return None
    clear = identity.decrypt(row.id_dossier, row.key_id, row.blob, crypto)
    snapshot = Snapshot.model_validate(identity.merged(row.payload, clear))
    # Projected once: the plan (`delivery.decisions.next_plan` from nothing) and the line.
    state = project(snapshot)
    plan = plan_target(None, state, today=today)
    if plan.retenue is not None:
        return plan.retenue
    line = lot_line(state, code_financeur=code_financeur)
    # `acknowledged.encode(state)` is this line without its titulaire and code_financeur, with
    # the state's statut; the line is that part with them put back: the line is serialised
    # once (a test checks both equal their model's own JSON).
    without = line.model_dump_json(exclude=_NOT_ACKNOWLEDGED)
    statut = state.statut.value
    acquitte = f'{without[:-1]},"statut":{json.dumps(statut)}}}'
    titulaire = line.titulaire.model_dump_json()
    whole = f'{{"code_financeur":{json.dumps(line.code_financeur)},"titulaire":{titulaire},'
    digest = acknowledged.digest(state.titulaire, crypto)
    return Built(f"{whole}{without[1:]}".encode(), Ack(acquitte, digest, statut))


_NOT_ACKNOWLEDGED = {"titulaire", "code_financeur"}


def ack(state: AgoraDossier, crypto: NirCrypto) -> Ack:
    """`acknowledged.row`'s `acquitte` (as text) and `titulaire_index` of `state`: a line of a
    lot restored after a crash."""
    encoded = json.dumps(acknowledged.encode(state), separators=(",", ":"), ensure_ascii=False)
    return Ack(encoded, acknowledged.digest(state.titulaire, crypto), state.statut.value)


# In a worker process: its NirCrypto, set once when it starts.
_WORKER: dict[str, NirCrypto] = {}


def _start_worker(crypto: NirCrypto, parent: int) -> None:
    _WORKER["crypto"] = crypto
    threading.Thread(target=_orphaned, args=(parent,), daemon=True).start()


def _orphaned(parent: int) -> None:
    """End this worker when the backfill is gone: a SIGKILLed parent cannot shut its pool
    down, and the workers, each holding the other end of the task queue, would wait forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _build_chunk(rows: list[StoredRow], code_financeur: str, today: date) -> list[Result]:
    crypto = _WORKER["crypto"]
    return [build(row, code_financeur, crypto, today) for row in rows]


# A line read by a worker, as tuples: (number, Rejection) or (number, (id_dossier, version,
# date_maj, columns), classement, motif).
_Read = (
    tuple[int, Rejection] | tuple[int, tuple[str, int, datetime, dict[str, Any]], str, str | None]
)


def read_line(number: int, line: bytes, ingestion: ReadingRules, crypto: NirCrypto) -> _Read:
    """What `ingest_lines` does to a line before storing it."""
    parsed = parse_line(line, today=ingestion.today)
    if isinstance(parsed, Rejection):
        return number, parsed
    classification = classify(parsed, ingestion.perimeter, since=ingestion.since)
    sealed = seal(parsed, crypto)
    fields = (sealed.id_dossier, sealed.version, sealed.date_maj, sealed.columns)
    return number, fields, classification.classement.value, classification.motif


def _valid(read: _Read) -> tuple[int, Rejection | ValidLine]:
    if len(read) == 2:
        return read
    number, (id_dossier, version, date_maj, columns), classement, motif = read
    classification = Classification(Classement(classement), motif)
    return number, ValidLine(number, Sealed(id_dossier, version, date_maj, columns), classification)


def _read_chunk(lines: list[tuple[int, bytes]], ingestion: ReadingRules) -> list[_Read]:
    crypto = _WORKER["crypto"]
    return [read_line(number, line, ingestion, crypto) for number, line in lines]


@dataclass(frozen=True, slots=True)
class ReadingRules:
    """What reading a line needs besides the line (`storage.ingest.Ingestion`'s part)."""

    today: date
    perimeter: Perimeter
    since: date | None


class Builder:
    """Builds lines here (`workers` 0) or in a pool of processes; `close()` ends the pool."""

    def __init__(self, crypto: NirCrypto, code_financeur: str, workers: int = 0) -> None:
        self.crypto = crypto
        self.code_financeur = code_financeur
        self._pool: Executor | None = None
        if workers > 0:
            # spawn, not fork: the parent runs an event loop and holds database connections.
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(crypto, os.getpid()),
            )

    def read(
        self, lines: Iterable[tuple[int, bytes]], reading: ReadingRules
    ) -> Iterator[tuple[int, Snapshot | Rejection | ValidLine]]:
        """The lines parsed (here: `ingest_parsed` then classifies and seals) or read whole by
        the pool, in file order. Waiting for a chunk blocks this thread: in the reading phase
        nothing else runs, and the chunks ahead are being parsed meanwhile."""
        if self._pool is None:
            for number, line in lines:
                yield number, parse_line(line, today=reading.today)
            return
        ahead: deque[Future[list[_Read]]] = deque()
        iterator = iter(lines)
        while chunk := list(islice(iterator, LINE_CHUNK)):
            ahead.append(self._pool.submit(_read_chunk, chunk, reading))
            if len(ahead) >= AHEAD:
                yield from map(_valid, ahead.popleft().result())
        while ahead:
            yield from map(_valid, ahead.popleft().result())

    async def build_all(self, rows: Sequence[StoredRow]) -> list[Result]:
        today = paris_today()
        if self._pool is None:
            return [build(row, self.code_financeur, self.crypto, today) for row in rows]
        loop = asyncio.get_running_loop()
        chunks = [list(rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
        done = await asyncio.gather(
            *(
                loop.run_in_executor(self._pool, _build_chunk, chunk, self.code_financeur, today)
                for chunk in chunks
            )
        )
        return [result for chunk in done for result in chunk]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
