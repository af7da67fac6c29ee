"""A lot's compte-rendu, line by line, recorded in one transaction.

- `ACCEPTE`: AGORA created the dossier in the line's state: that is its acknowledged state,
  and the work item is up to date, unless a newer snapshot arrived meanwhile (then it is due:
  the engine sends the difference from the acknowledged state);
- `REJETE` for a rule: parked with AGORA's codes (a newer snapshot re-opens it, as on the
  sync path); `REJETE` only for AGORA's own failure (`INDISPONIBLE`, nothing applied): due;
- `DOUBLON`, or a line AGORA did not report on: due with `verifier`, so the engine finds the
  dossier on AGORA, links it, reads it and sends what differs.

The return flow (`storage/retours.py`) gets its events in the same transaction.

Every transition is conditional on the lot (`lot_id`), so recording twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.agora.schemas import LigneCompteRendu
from agora_bridge.backfill import audit
from agora_bridge.backfill.packing import DEPOSE, REFUSE, TRAITE, Lot
from agora_bridge.delivery import acknowledged
from agora_bridge.ledger.chain import Entry
from agora_bridge.ledger.store import append
from agora_bridge.storage import retours
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.executor import on_session
from agora_bridge.storage.livraisons import A_FAIRE, A_JOUR, PARQUE
from agora_bridge.storage.models import Livraison, LotReprise
from agora_bridge.storage.retours import Evenement, Event

ACCEPTE, REJETE, DOUBLON = "ACCEPTE", "REJETE", "DOUBLON"
# No outcome AGORA stands by: the engine takes the dossier over, reading AGORA first.
A_REPRENDRE = "A_REPRENDRE"
# AGORA failed on the line itself and applied nothing: it may be sent again.
_NOT_APPLIED = "INDISPONIBLE"
_ITEMS = cast(Table, Livraison.__table__)
_LOTS = cast(Table, LotReprise.__table__)
_MESSAGE_CHARS = 500


@dataclass(frozen=True, slots=True)
class LineOutcome:
    index: int  # the line's position in the lot, from 0
    resultat: str  # ACCEPTE, REJETE, DOUBLON, A_REPRENDRE
    etat: str  # what the work item becomes if no newer snapshot arrived meanwhile
    verifier: bool = False
    id_agora: str | None = None
    code: str | None = None
    # Field and code of each of AGORA's errors: never AGORA's wording, which may quote a value.
    message: str | None = None


def decide(lot: Lot, lines: Sequence[LigneCompteRendu]) -> list[LineOutcome]:
    """Each line of the lot with what AGORA said of it (pure)."""
    by_number = {line.ligne: line for line in lines}
    return [
        _decided(index, id_dossier, by_number.get(index + 1))
        for index, (id_dossier, _, _) in enumerate(lot.dossiers)
    ]


def _decided(index: int, id_dossier: str, line: LigneCompteRendu | None) -> LineOutcome:
    if line is None or line.reference_financeur != id_dossier:
        return LineOutcome(index, A_REPRENDRE, A_FAIRE, verifier=True)
    if line.resultat == ACCEPTE and line.id_agora:
        return LineOutcome(index, ACCEPTE, A_JOUR, id_agora=line.id_agora)
    if line.resultat == REJETE:
        codes = [e.code for e in line.erreurs] or ["REJETE"]
        message = "; ".join(f"{e.champ or 'ligne'}: {e.code}" for e in line.erreurs)
        if set(codes) == {_NOT_APPLIED}:
            return LineOutcome(index, A_REPRENDRE, A_FAIRE, code=_NOT_APPLIED)
        return LineOutcome(
            index, REJETE, PARQUE, code=codes[0][:64], message=message[:_MESSAGE_CHARS] or None
        )
    # DOUBLON, or ACCEPTE without an id: AGORA has the dossier, the engine reads it.
    return LineOutcome(index, DOUBLON if line.resultat == DOUBLON else A_REPRENDRE, A_FAIRE, True)


def summary(outcomes: Sequence[LineOutcome]) -> dict[str, Any]:
    """The lot's counts for the report: rejections by AGORA's code."""
    counts = Counter(o.resultat for o in outcomes)
    rejected = Counter(o.code or REJETE for o in outcomes if o.resultat == REJETE)
    return {
        ACCEPTE: counts[ACCEPTE],
        DOUBLON: counts[DOUBLON],
        A_REPRENDRE: counts[A_REPRENDRE],
        REJETE: dict(rejected),
    }


def acknowledged_rows(
    lot: Lot, outcomes: Sequence[LineOutcome], crypto: NirCrypto, *, now: datetime
) -> list[dict[str, Any]]:
    """The acknowledged state of each accepted line (computed before the transaction)."""
    rows = []
    for o in outcomes:
        if o.resultat == ACCEPTE and o.id_agora is not None:
            # `acknowledged.row` of the line's state, encoded when the line was built.
            acked = lot.acknowledgement(o.index, crypto)
            rows.append(
                {
                    "id_dossier": lot.dossiers[o.index][0],
                    "id_agora": o.id_agora,
                    "acquitte": acked.acquitte,  # its JSON text, stored as it is
                    "titulaire_index": acked.titulaire_index,
                    "acquitte_at": now,
                    "statut": acked.statut,  # for the return flow (not a column)
                }
            )
    return rows


async def record(
    session: AsyncSession,
    lot: Lot,
    outcomes: Sequence[LineOutcome],
    states: list[dict[str, Any]],
    *,
    now: datetime,
) -> bool:
    """The compte-rendu in the caller's transaction; False when it was recorded already."""
    statut = await session.scalar(
        select(LotReprise.statut).where(LotReprise.cle == lot.cle).with_for_update()
    )
    if statut in (TRAITE, REFUSE):
        return False
    await acknowledged.store_all(on_session(session), states)
    await session.execute(_CLOSE, [_params(lot, o, now) for o in outcomes])
    await _lot_done(session, lot, outcomes, TRAITE, lot.id_lot, now=now)
    await retours.record(on_session(session), _reported(lot, outcomes, states, now))
    return True


def _reported(
    lot: Lot, outcomes: Sequence[LineOutcome], states: list[dict[str, Any]], now: datetime
) -> list[Event]:
    """What the return flow says of the lot: each created dossier's id and state, each
    rejection with AGORA's code. A duplicate or a line handed over says nothing yet: the
    engine reports the dossier when it links it."""
    statuts = {row["id_dossier"]: row["statut"] for row in states}
    events = []
    for o in outcomes:
        id_dossier, _, version = lot.dossiers[o.index]
        if o.resultat == ACCEPTE and o.id_agora is not None:
            statut = statuts[id_dossier]
            created = Evenement.ID_AGORA_ATTRIBUE
            events.append(Event(created, id_dossier, version, now, o.id_agora, statut, "LOT"))
        elif o.resultat == REJETE:
            rejected = Evenement.REJETE
            events.append(Event(rejected, id_dossier, version, now, code=o.code, message=o.message))
    return events


async def refused(session: AsyncSession, lot: Lot, code: str | None, *, now: datetime) -> None:
    """AGORA refused the lot as a whole (or lost it): every dossier goes to the engine, which
    reads AGORA before sending (some lines may have been applied)."""
    outcomes = [
        LineOutcome(index, A_REPRENDRE, A_FAIRE, verifier=True)
        for index in range(len(lot.dossiers))
    ]
    await session.execute(_CLOSE, [_params(lot, o, now) for o in outcomes])
    await _lot_done(session, lot, outcomes, REFUSE, code or lot.id_lot, now=now)


def _same(value: Any, otherwise: Any) -> Any:
    """`value` if no newer snapshot arrived since the lot was packed, else `otherwise`."""
    return case(
        (_ITEMS.c.generation == _param("p_generation", "generation"), value), else_=otherwise
    )


def _param(name: str, column: str) -> Any:
    """A parameter typed as its column: PostgreSQL must know a CASE branch's type."""
    return bindparam(name, type_=_ITEMS.c[column].type)


# One statement for the lot's lines (executemany). The parameter names must not be column
# names of an UPDATE's executemany.
_CLOSE = (
    update(_ITEMS)
    .where(_ITEMS.c.id_dossier == bindparam("p_id"), _ITEMS.c.lot_id == bindparam("p_lot"))
    .values(
        lot_id=None,
        etat=_same(_param("p_etat", "etat"), A_FAIRE),
        code=_same(_param("p_code", "code"), None),
        message=_same(_param("p_message", "message"), None),
        parked_at=_same(_param("p_parked_at", "parked_at"), None),
        verifier=_param("p_verifier", "verifier"),
        due_at=_param("p_now", "due_at"),
        last_attempt_at=_param("p_now", "last_attempt_at"),
        last_outcome=_param("p_outcome", "last_outcome"),
        attempts=0,
    )
)


def _params(lot: Lot, o: LineOutcome, now: datetime) -> dict[str, Any]:
    id_dossier, generation, _ = lot.dossiers[o.index]
    parked = o.etat == PARQUE
    return {
        "p_id": id_dossier,
        "p_lot": lot.cle,
        "p_generation": generation,
        "p_etat": o.etat,
        "p_code": o.code if parked else None,
        "p_message": o.message if parked else None,
        "p_parked_at": now if parked else None,
        "p_verifier": o.verifier,
        "p_now": now,
        "p_outcome": f"LOT:{o.resultat}",
    }


async def _lot_done(
    session: AsyncSession,
    lot: Lot,
    outcomes: Sequence[LineOutcome],
    statut: str,
    code: str | None,
    *,
    now: datetime,
) -> None:
    """The lot's outcome: its lines' outcomes kept with its dossiers and anchored by one
    ledger entry (`audit.py`); the body (NIRs, names) is no longer needed: dropped."""
    lines = [[*lot.dossiers[o.index], o.resultat, o.code] for o in sorted(outcomes, key=_index)]
    entry = Entry(
        recorded_at=now,
        kind="lot.outcome",
        operation=statut,
        request_id=lot.request_id,
        code=code[:64] if code else None,
        body_digest=audit.outcomes_digest(lot.cle, lines),
    )
    entree = await append(on_session(session), [entry])
    resultats = {**summary(outcomes), audit.ENTRY: entree}
    await session.execute(
        update(_LOTS)
        .where(_LOTS.c.cle == lot.cle)
        .values(
            statut=statut,
            resultats=resultats,
            dossiers=lines,
            corps=None,
            corps_key_id=None,
            traite_at=now,
        )
    )


def _index(outcome: LineOutcome) -> int:
    return outcome.index


async def deposited(session: AsyncSession, lot: Lot, id_lot: str, *, now: datetime) -> None:
    """AGORA received the lot: its id, for polling after a restart."""
    await session.execute(
        update(_LOTS)
        .where(_LOTS.c.cle == lot.cle)
        .values(statut=DEPOSE, id_lot=id_lot, depose_at=now)
    )
    entry = Entry(
        recorded_at=now,
        kind="lot.outcome",
        operation=DEPOSE,
        request_id=lot.request_id,
        http_status=202,
        code=id_lot,
        body_digest=lot.cle,
    )
    await append(on_session(session), [entry])
