"""The 3-working-day rule at rest: a matching pass and the report the ops status shows.

Matching is a pass rather than a hook in the ingest: the ingest's batches stay as they are
(a few statements whatever their size), and a pass finds the same dossiers whenever it runs,
since a Région dossier is matched on what it holds, not on when it arrived. The report runs
the pass first, recording its matches or, for a read (the ops status), only applying them; it
only matches orientations in `ENTREE` not yet matched, reading the dossiers that share their
candidate's blind index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.orientation.entries import Ecart, EntreeDeclaree, ecarts
from agora_bridge.orientation.model import StatutOrientation
from agora_bridge.snapshots.validation import PARIS
from agora_bridge.storage.models import Dossier, Orientation

# The report lists this many orientation ids per kind; counts are always exact.
LISTED = 1000


@dataclass
class RapportEntrees:
    """Declared entries breaking the rule: counts, and orientation ids (never a person)."""

    comptes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Ecart, 0))
    orientations: dict[str, list[str]] = field(default_factory=lambda: {e: [] for e in Ecart})

    def add(self, orientation_id: str, ecart: Ecart) -> None:
        self.comptes[ecart] += 1
        if len(self.orientations[ecart]) < LISTED:
            self.orientations[ecart].append(orientation_id)


async def match_entries(session: AsyncSession) -> int:
    """Record, for each unmatched `ENTREE`, the Région dossier of the same candidate (NIR
    blind index, else names and birth date) and session that holds an entry date. Flushes;
    returns how many were matched."""
    pending = list(
        await session.scalars(
            select(Orientation).where(
                Orientation.statut == StatutOrientation.ENTREE.value,
                Orientation.dossier_apparie.is_(None),
            )
        )
    )
    found = await _matches(session, pending)
    for orientation in pending:
        if orientation.id in found:
            orientation.dossier_apparie, orientation.dossier_entree_date = found[orientation.id]
    if found:
        await session.flush()
    return len(found)


async def _matches(
    session: AsyncSession, pending: list[Orientation]
) -> dict[str, tuple[str, date]]:
    """The Région dossier and entry date each of `pending` matches, by orientation id."""
    if not pending:
        return {}
    candidates = await _dossiers_of(session, pending)
    found = {o.id: _matching(o, candidates) for o in pending}
    return {oid: match for oid, match in found.items() if match is not None}


async def _dossiers_of(
    session: AsyncSession, orientations: list[Orientation]
) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    nirs = {o.nir_index for o in orientations if o.nir_index is not None}
    identites = {o.identite_index for o in orientations if o.nir_index is None}
    statement = select(
        Dossier.id_dossier, Dossier.nir_index, Dossier.identite_index, Dossier.payload
    ).where(or_(Dossier.nir_index.in_(nirs), Dossier.identite_index.in_(identites)))
    return [tuple(row) for row in await session.execute(statement)]


def _matching(
    orientation: Orientation, dossiers: list[tuple[str, str | None, str, dict[str, Any]]]
) -> tuple[str, date] | None:
    for id_dossier, nir_index, identite, payload in sorted(dossiers):
        same_person = (
            nir_index == orientation.nir_index
            if orientation.nir_index is not None
            else identite == orientation.identite_index
        )
        same_session = (
            payload["session"]["numero"] == orientation.session_numero
            and payload["action"]["numero"] == orientation.action_numero
        )
        if same_person and same_session and payload.get("date_entree"):
            return id_dossier, date.fromisoformat(payload["date_entree"])
    return None


async def entry_report(
    session: AsyncSession, *, today: date, record: bool = True
) -> RapportEntrees:
    """Count and list the entries late or missing from the Région (`orientation/entries.py`)
    after the matching pass: recorded (flushed) when `record`, else only applied to this
    report, so that a read (the ops status) writes nothing."""
    if record:
        await match_entries(session)
    rows = list(
        await session.scalars(
            select(Orientation).where(Orientation.statut == StatutOrientation.ENTREE.value)
        )
    )
    unmatched = [row for row in rows if row.dossier_apparie is None]
    found = {} if record else await _matches(session, unmatched)
    report = RapportEntrees()
    for row in rows:
        match = found.get(row.id)
        for ecart in ecarts(_declared(row, match[1] if match else None), today):
            report.add(row.id, ecart)
    return report


def _declared(row: Orientation, matched_entry: date | None) -> EntreeDeclaree:
    declared_at: datetime = row.entree_declaree_at or row.updated_at
    return EntreeDeclaree(
        orientation_id=row.id,
        date_entree=date.fromisoformat(row.etat["date_entree"]),
        declaree_le=declared_at.astimezone(PARIS).date(),
        dossier_date_entree=matched_entry or row.dossier_entree_date,
    )
