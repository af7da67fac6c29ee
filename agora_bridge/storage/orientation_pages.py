"""Reading orientations page by page: a caller's listing and the Région's feed of changes.

Both follow the change numbers of `orientations` (its docstring says why they are visible in
their order): a listing pins the highest number when it starts and places each orientation
at its last change up to then, so that one that changes between pages neither moves nor
shows twice; the feed gives every change after a number, oldest first.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    func,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from agora_bridge.storage.callers import Caller, Role
from agora_bridge.storage.crypto import NirCrypto
from agora_bridge.storage.orientations import (
    CHANGEMENT,
    COLUMNS,
    HIGH_WATER,
    ORIENTATION,
    ROW_COLUMNS,
    Filtres,
    Vue,
    bound,
    candidat_of,
    params_of,
    scope,
    visible,
    vue_of,
)


def _filtered(role: Role, shape: tuple[bool, bool, bool]) -> list[ColumnElement[bool]]:
    """The conditions of a listing with these filters present (`_filter_params` binds them)."""
    conditions = [visible(role)]
    statut, session_numero, modifie_depuis = shape
    if statut:
        conditions.append(ORIENTATION.c.statut == bound(ORIENTATION, "statut"))
    if session_numero:
        conditions.append(ORIENTATION.c.session_numero == bound(ORIENTATION, "session_numero"))
    if modifie_depuis:
        conditions.append(ORIENTATION.c.updated_at >= bound(ORIENTATION, "updated_at"))
    return conditions


def _filter_params(
    caller: Caller, filtres: Filtres
) -> tuple[tuple[bool, bool, bool], dict[str, Any]]:
    values = {
        "statut": filtres.statut.value if filtres.statut is not None else None,
        "session_numero": filtres.session_numero,
        "updated_at": filtres.modifie_depuis,
    }
    present = {name: value for name, value in values.items() if value is not None}
    shape = (
        values["statut"] is not None,
        filtres.session_numero is not None,
        filtres.modifie_depuis is not None,
    )
    return shape, params_of(ORIENTATION, present) | scope(caller)


async def listing(
    connection: AsyncConnection,
    caller: Caller,
    filtres: Filtres,
    *,
    page: tuple[int, int] | None,
    limit: int,
    crypto: NirCrypto,
) -> tuple[list[Vue], int]:
    """Up to `limit` orientations, newest change first, and the listing's high water. The
    first page (`page` None): the orientations as they are, and the last change committed,
    read by the same statement (one snapshot: none of the rows is past it). The next ones
    (`page`: the high water, the position to continue below): `_later_page`."""
    shape, params = _filter_params(caller, filtres)
    params["limit"] = limit
    if page is None:
        found = list(await connection.execute(_first_page(caller.role, shape), params))
        return [vue_of(row, crypto) for row in found], found[0].high if found else 0
    high, below = page
    statement = _later_page(caller.role, shape)
    found = await connection.execute(statement, params | {"high": high, "below": below})
    vues = [Vue(row, row.etat, candidat_of(row, crypto), row.position) for row in found]
    return vues, high


_LIMIT = bindparam("limit", type_=Integer())


@cache
def _first_page(role: Role, shape: tuple[bool, bool, bool]) -> Select[Any]:
    conditions = _filtered(role, shape)
    statement = select(*COLUMNS, HIGH_WATER).where(*conditions)
    return statement.order_by(ORIENTATION.c.seq.desc()).limit(_LIMIT)


@cache
def _later_page(role: Role, shape: tuple[bool, bool, bool]) -> Select[Any]:
    """A page after the first, in one statement (one snapshot: an orientation that changes
    while it runs is read either unchanged or changed, never both): those unchanged since the
    high water at their change, those changed since at their last change up to it (none for
    one created since: it was not there), below the page's position. The state is the
    current one's: a listing shows each orientation as it is, at the place it had. Built
    once for each role and set of filters, with bound parameters."""
    conditions = _filtered(role, shape)
    seq, high = ORIENTATION.c.seq, bindparam("high", type_=BigInteger())
    below = bindparam("below", type_=BigInteger())
    unchanged = (
        select(*COLUMNS, seq.label("position"))
        .where(*conditions, seq <= high, seq < below)
        .order_by(seq.desc())
        .limit(_LIMIT)
        .subquery()
    )
    last_change = (
        select(func.max(CHANGEMENT.c.seq))
        .where(CHANGEMENT.c.orientation_id == ORIENTATION.c.id, CHANGEMENT.c.seq <= high)
        .scalar_subquery()
    )
    changed = select(*COLUMNS, last_change.label("position")).where(*conditions, seq > high)
    since = changed.subquery()
    both = union_all(select(unchanged), select(since).where(since.c.position < below)).subquery()
    return select(both).order_by(both.c.position.desc()).limit(_LIMIT)


async def feed(
    connection: AsyncConnection,
    *,
    after: int,
    since: datetime | None,
    limit: int,
    crypto: NirCrypto,
) -> list[Vue]:
    """Every change after number `after`, oldest first, the orientation as that change left it."""
    statement = (
        select(
            *ROW_COLUMNS,
            CHANGEMENT.c.etat.label("change_etat"),
            CHANGEMENT.c.seq.label("change_seq"),
        )
        .join_from(CHANGEMENT, ORIENTATION, ORIENTATION.c.id == CHANGEMENT.c.orientation_id)
        .where(CHANGEMENT.c.seq > after)
        .order_by(CHANGEMENT.c.seq)
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(CHANGEMENT.c.changed_at >= since)
    found = await connection.execute(statement)
    return [Vue(row, row.change_etat, candidat_of(row, crypto), row.change_seq) for row in found]
