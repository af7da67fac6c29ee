"""The return flow: what AGORA said of each dossier, and the bridge's holds, as a feed the
Région's system follows with a cursor (`operations.md`, "The HTTP API"; `docs/RETOURS.md`).

Every writer calls `record` in the transaction of the outcome it reports (ingest for a
snapshot held at classification, the sync engine's recorder, the backfill for its lots), so
an event exists exactly when its outcome was committed. `record` takes the ledger's lock
first: the transactions that write events are serialised until their commit, so event ids
are drawn in commit order and a reader that has seen an id has seen every smaller one. The
cursor is therefore the id, and a reader never skips nor repeats an event.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import Select, String, Table, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.ledger.store import serialise
from agora_bridge.logs import redact_text
from agora_bridge.storage.executor import Executor
from agora_bridge.storage.models import Retour

_TABLE = cast(Table, Retour.__table__)
_CURSOR_PREFIX = "r1:"
_MESSAGE_CHARS = 500
_LARGEST_ID = 2**63 - 1


class Evenement(StrEnum):
    ID_AGORA_ATTRIBUE = "ID_AGORA_ATTRIBUE"  # AGORA created (or we found) the dossier
    ETAT_ACQUITTE = "ETAT_ACQUITTE"  # AGORA holds this state
    REJETE = "REJETE"  # a business rejection: AGORA's code and message
    RETENU = "RETENU"  # held by the bridge: the reason
    REPRIS = "REPRIS"  # a rejected or held dossier went out again after a correction


# What a REPRIS follows, and what it reports has gone out again.
_BLOCKING = frozenset({Evenement.REJETE, Evenement.RETENU})
_SUCCESS = frozenset({Evenement.ID_AGORA_ATTRIBUE, Evenement.ETAT_ACQUITTE})


@dataclass(frozen=True, slots=True)
class Event:
    """One event to record: codes, ids and statuses only (never a NIR or a name)."""

    evenement: Evenement
    id_dossier: str
    version: int | None
    le: datetime
    id_agora: str | None = None
    statut: str | None = None  # AGORA's statut of the dossier, when known
    code: str | None = None  # AGORA's code, the hold's reason, the operation acknowledged
    message: str | None = None  # AGORA's explanation of a rejection (redacted)


@dataclass(frozen=True, slots=True)
class Stored:
    """An event as the feed gives it: its position too."""

    id: int
    event: Event

    @property
    def cursor(self) -> str:
        return encode_cursor(self.id)


class InvalidCursor(ValueError):
    """A cursor this feed did not give."""


def encode_cursor(position: int) -> str:
    """Opaque to readers: they pass back what they were given."""
    raw = f"{_CURSOR_PREFIX}{position}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> int:
    """The position after which to read; 0 (the start) for no cursor."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        position = int(raw.removeprefix(_CURSOR_PREFIX)) if raw.startswith(_CURSOR_PREFIX) else -1
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidCursor("not a cursor of this feed") from None
    # Only what `encode_cursor` gives: no sign, no leading zero, within a 64-bit id.
    if not 0 <= position <= _LARGEST_ID or encode_cursor(position) != cursor:
        raise InvalidCursor("not a cursor of this feed")
    return position


async def record(executor: Executor, events: Sequence[Event]) -> None:
    """Append `events`, in order, in the caller's transaction (the caller commits).

    A success that follows a rejection or a hold of its dossier is preceded by a REPRIS
    carrying the code it resumes from. Takes the ledger's lock (free when the transaction
    already appended to the ledger): ids in commit order, the cursor's guarantee.
    """
    if not events:
        return
    await serialise(executor)
    events = await _with_resumptions(executor, events)
    # One statement, built once, whatever the number of events (executemany).
    await executor.each(_INSERT, [_row(event) for event in events])


async def _with_resumptions(executor: Executor, events: Sequence[Event]) -> list[Event]:
    successes = {e.id_dossier for e in events if e.evenement in _SUCCESS}
    last = await _last_events(executor, successes) if successes else {}
    out: list[Event] = []
    for event in events:
        before = last.get(event.id_dossier)
        if event.evenement in _SUCCESS and before is not None and before[0] in _BLOCKING:
            if _older(event.version, before[2]):
                # The success of a version before the blocked one (its answer crossed the
                # newer snapshot): the block stands, no resumption.
                out.append(event)
                continue
            out.append(replace(event, evenement=Evenement.REPRIS, code=before[1], message=None))
        out.append(event)
        last[event.id_dossier] = (event.evenement, event.code, event.version)
    return out


def _older(version: int | None, blocked: int | None) -> bool:
    return version is not None and blocked is not None and version < blocked


async def _last_events(
    executor: Executor, ids: set[str]
) -> dict[str, tuple[str, str | None, int | None]]:
    """Each dossier's event about its newest version (the last of them), its code and that
    version: a late success of an older version does not hide a hold of a newer one. Read
    under the lock, so no writer adds one meanwhile. Core and four columns, built once: the
    recorder runs this for most of its groups."""
    statement = _LAST_EVENTS[executor.dialect.name]
    rows = await executor.rows(statement, {"ids": sorted(ids)})
    return {id_dossier: (evenement, code, version) for id_dossier, evenement, code, version in rows}


def _last_events_statement(dialect: str) -> Select[str, str, str | None, int | None]:
    table, earlier = _TABLE.c, _TABLE.alias("earlier").c
    # Correlated: each dossier's few events through the (id_dossier, id) index; an
    # uncorrelated `id IN (SELECT … GROUP BY)` made PostgreSQL scan the whole table.
    newest = (
        select(earlier.id)
        .where(earlier.id_dossier == table.id_dossier)
        .order_by(func.coalesce(earlier.version, -1).desc(), earlier.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # PostgreSQL: one array parameter, so that the statement is the same text for any number
    # of dossiers (prepared once); SQLite has no arrays, SQLAlchemy expands the list there.
    ids = (
        table.id_dossier == any_(bindparam("ids", type_=ARRAY(String)))
        if dialect == "postgresql"
        else table.id_dossier.in_(bindparam("ids", expanding=True))
    )
    return select(table.id_dossier, table.evenement, table.code, table.version).where(
        ids, table.id == newest
    )


_LAST_EVENTS = {dialect: _last_events_statement(dialect) for dialect in ("postgresql", "sqlite")}
_EVENT_COLUMNS = (
    "evenement",
    "id_dossier",
    "version",
    "id_agora",
    "statut",
    "code",
    "message",
    "recorded_at",
)
# `inline`: no implicit `RETURNING id` (nobody reads it) when it runs on the driver.
_INSERT = (
    insert(_TABLE)
    .values({name: bindparam(name, type_=_TABLE.c[name].type) for name in _EVENT_COLUMNS})
    .inline()
)


async def read_after(session: AsyncSession, position: int, limit: int) -> list[Stored]:
    """Up to `limit` events after `position`, oldest first."""
    statement = select(Retour).where(Retour.id > position).order_by(Retour.id).limit(limit)
    rows = (await session.execute(statement)).scalars().all()
    return [Stored(row.id, _event(row)) for row in rows]


def _row(event: Event) -> dict[str, object]:
    message = event.message
    if message is not None:  # AGORA's wording may quote the value it refused
        message = redact_text(message)[:_MESSAGE_CHARS]
    return {
        "evenement": event.evenement.value,
        "id_dossier": event.id_dossier,
        "version": event.version,
        "id_agora": event.id_agora,
        "statut": event.statut,
        "code": event.code,
        "message": message,
        "recorded_at": event.le,
    }


def _event(row: Retour) -> Event:
    return Event(
        evenement=Evenement(row.evenement),
        id_dossier=row.id_dossier,
        version=row.version,
        le=row.recorded_at,
        id_agora=row.id_agora,
        statut=row.statut,
        code=row.code,
        message=row.message,
    )
