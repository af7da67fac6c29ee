"""The ledger's hash chain, pure: the canonical encoding of an entry and the check of a chain.

`hash` = SHA-256 over the canonical encoding of the entry's fields and `prev_hash`. The
encoding is JSON with sorted keys, no spaces, ASCII only and the instant in UTC to the
microsecond, so that any reader in any language recomputes the same bytes.

What a chain proves: altering, deleting or inserting an entry breaks it at that entry (or
the next one). What it cannot prove alone: that entries were not cut from its end, or the
whole chain rewritten; anchoring `ledger head` outside the database covers both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

GENESIS = "0" * 64

Kind = Literal[
    "snapshot.decision",  # a snapshot stored or ignored, its classification
    "agora.attempt",  # a call about to leave for AGORA
    "agora.outcome",  # what AGORA answered, or how the call failed
    "dossier.hold",  # the planner held a dossier
    "operator.replay",  # `agora-bridge replay` put a parked dossier back in the queue
    "reconcile.read",  # `reconcile` read a dossier back: conforming, drifted, absent
    "lot.submitted",
    "lot.outcome",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """One fact. Codes, ids and digests only: never a NIR, a name or a birth date."""

    recorded_at: datetime
    kind: Kind
    id_dossier: str | None = None
    version: int | None = None
    operation: str | None = None  # `Creer`, `Entrer`, … or an outcome such as `ACCEPTE`
    request_id: str | None = None  # the X-Request-Id sent to AGORA
    http_status: int | None = None
    code: str | None = None  # AGORA's error code, a hold or classification reason
    body_digest: str | None = None  # SHA-256 of the body sent, hex


_FIELDS = dataclass_fields(Entry)


@dataclass(frozen=True, slots=True)
class Chained:
    """An entry as stored: its position, the hash before it and its own."""

    id: int
    entry: Entry
    prev_hash: str
    hash: str


def canonical(entry: Entry, prev_hash: str) -> bytes:
    # Not `asdict`: its deep copy of plain values cost more than the hash (a million-line
    # backfill appends a million entries).
    fields = {name: getattr(entry, name) for name in _NAMES}
    fields["recorded_at"] = _instant(entry.recorded_at)
    fields["prev_hash"] = prev_hash
    return _ENCODE(fields).encode()


_NAMES = tuple(field.name for field in _FIELDS)
# `json.dumps` with these options builds an encoder at every call: a third of the encoding.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


@lru_cache(maxsize=16)
def _instant(recorded_at: datetime) -> str:
    """The instant's canonical text: entries appended together share theirs (an ingest
    batch's thousand `snapshot.decision` entries), so it is formatted once."""
    return recorded_at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(entry: Entry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


def body_digest(body: bytes) -> str:
    """The digest the ledger keeps of a request body: proves what was sent, reveals nothing."""
    return hashlib.sha256(body).hexdigest()


_NOT_FOLLOWING = "its prev_hash is not the hash of the entry before it (one deleted or inserted)"
_ALTERED = "its content does not match its hash (altered)"
_NOT_ANCHORED = "the anchored head is not on the chain (entries cut from its end, or rewritten)"


@dataclass(frozen=True, slots=True)
class Verdict:
    entries: int
    head: str  # the last entry's hash, GENESIS when empty
    broken_at: int | None = None  # the id of the first entry that breaks the chain
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.reason is None


class Checker:
    """Checks a chain fed one entry at a time, in id order (so a long ledger is streamed).
    `anchor`, a head printed earlier by `ledger head`, must be on the chain."""

    def __init__(self, *, anchor: str | None = None) -> None:
        self._anchor = anchor
        self._anchored = anchor is None
        self._count = 0
        self._prev = GENESIS
        self.broken: Verdict | None = None

    def feed(self, link: Chained) -> bool:
        """False once the chain is broken (at this entry or before)."""
        if self.broken is not None:
            return False
        if link.prev_hash != self._prev:
            self.broken = Verdict(self._count, self._prev, link.id, _NOT_FOLLOWING)
        elif entry_hash(link.entry, link.prev_hash) != link.hash:
            self.broken = Verdict(self._count, self._prev, link.id, _ALTERED)
        else:
            self._count, self._prev = self._count + 1, link.hash
            self._anchored = self._anchored or link.hash == self._anchor
        return self.broken is None

    def verdict(self) -> Verdict:
        if self.broken is not None:
            return self.broken
        if not self._anchored:
            return Verdict(self._count, self._prev, None, _NOT_ANCHORED)
        return Verdict(self._count, self._prev)


def verify(chain: Iterable[Chained], *, anchor: str | None = None) -> Verdict:
    checker = Checker(anchor=anchor)
    for link in chain:
        if not checker.feed(link):
            break
    return checker.verdict()
