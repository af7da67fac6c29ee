"""The backfill's line outcomes in the audit ledger: one entry a lot, a digest of its lines.

A lot's compte-rendu is one `lot.outcome` ledger entry (`TRAITE` or `REFUSE`, AGORA's lot id
or code, the lot's X-Request-Id) whose `body_digest` is the SHA-256 of its lines' outcomes in
line order; the lines themselves (dossier, version, outcome, code) stay in the lot's row
(`lot_reprise.dossiers`), and the entry's hash in `lot_reprise.resultats`. Changing, adding
or removing a line's outcome there no longer matches the chained digest: `tampered` finds
it, and `lines_of` answers "what was sent for dossier X, and what did AGORA say"
(`docs/BACKFILL.md`, Ledger).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.storage.models import LedgerEntry, LotReprise

# A recorded line: [id_dossier, generation, version, outcome, code]; before its outcome the
# first three only.
ID, VERSION, OUTCOME, CODE = 0, 2, 3, 4
_DONE = ("TRAITE", "REFUSE")
# The key of `lot_reprise.resultats` holding the hash of the lot's ledger entry.
ENTRY = "entree"


def outcomes_digest(cle: str, lines: Sequence[Sequence[Any]]) -> str:
    """SHA-256 over the lot's key and each line's dossier, version, outcome and code, in line
    order (canonical JSON: any reader recomputes the same bytes)."""
    canonical = [[line[ID], line[VERSION], line[OUTCOME], line[CODE]] for line in lines]
    text = json.dumps([cle, canonical], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LotLine:
    """One line of a lot that carried a dossier, as recorded and anchored in the ledger."""

    cle: str  # the lot's Idempotency-Key (its `lot.submitted` entry's digest)
    numero: int
    ligne: int  # from 1
    version: int
    resultat: str | None  # None while the lot is not done
    code: str | None
    anchored: bool  # the lot's lines match its ledger entry's digest


async def lines_of(session: AsyncSession, id_dossier: str) -> list[LotLine]:
    """Every lot line of `id_dossier`, oldest lot first. Reads every lot's line list: an
    audit, not a hot path (a few thousand lots for a national file)."""
    rows = await session.execute(
        select(
            LotReprise.cle, LotReprise.numero, LotReprise.dossiers, LotReprise.resultats
        ).order_by(LotReprise.created_at, LotReprise.numero)
    )
    found = []
    for cle, numero, lines, resultats in rows.all():
        hits = [(n, line) for n, line in enumerate(lines, 1) if line[ID] == id_dossier]
        if not hits:
            continue
        anchored = await _anchored(session, cle, resultats, lines)
        for n, line in hits:
            done = len(line) > OUTCOME
            found.append(
                LotLine(
                    cle,
                    numero,
                    n,
                    line[VERSION],
                    line[OUTCOME] if done else None,
                    line[CODE] if done else None,
                    anchored,
                )
            )
    return found


async def tampered(session: AsyncSession) -> list[str]:
    """The keys of the finished lots whose recorded lines do not match their ledger entry."""
    rows = await session.execute(
        select(LotReprise.cle, LotReprise.dossiers, LotReprise.resultats).where(
            LotReprise.statut.in_(_DONE)
        )
    )
    return [
        cle
        for cle, lines, resultats in rows.all()
        if not await _anchored(session, cle, resultats, lines)
    ]


async def _anchored(
    session: AsyncSession, cle: str, resultats: dict[str, Any] | None, lines: list[list[Any]]
) -> bool:
    """The lot's entry is found by its hash (`resultats["entree"]`, the ledger's unique
    index); a forged pointer would need an entry of the chain with the forged digest."""
    entree = (resultats or {}).get(ENTRY)
    digest = await session.scalar(
        select(LedgerEntry.body_digest).where(
            LedgerEntry.hash == entree,
            LedgerEntry.kind == "lot.outcome",
            LedgerEntry.operation.in_(_DONE),
        )
    )
    if digest is None:
        return False
    if any(len(line) <= OUTCOME for line in lines):
        return False
    return bool(digest == outcomes_digest(cle, lines))
