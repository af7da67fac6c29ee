"""Key rotation: every ciphertext the bridge keeps, re-encrypted under the newest key.

Three tables hold one: the dossier's identity (NIR, names, birth date), the orientation's
candidate (the same kinds of data) and a backfill lot's body, kept until the lot's outcomes
are recorded (`backfill/packing.py`). Each is sealed with its row's id as associated data, so
a rotation opens the plaintext and seals it again as it is, under the same associated data:
it changes the key, nothing else.

Resumable: an interrupted rotation leaves each row under the old or the new key, both
readable, and the next run picks up what is left. A row it cannot decrypt (its key is no
longer configured, or its ciphertext does not authenticate) stays as it is and is reported by
its id: the others are rotated all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from agora_bridge.backfill.packing import body_aad
from agora_bridge.storage.crypto import NirCrypto, NirDecryptionError, row_aad
from agora_bridge.storage.models import Base, Dossier, LotReprise, Orientation
from agora_bridge.storage.orientations import candidat_aad

# A rotation report lists this many row ids per reason; the count is always exact.
LISTED_IDS = 1000


@dataclass(frozen=True)
class SealedColumn:
    """Where a table keeps a ciphertext, and how the ciphertext is bound to its row."""

    kind: str  # how the report names a row: "dossier", "orientation", "lot"
    model: type[Base]
    primary_key: InstrumentedAttribute[Any]  # the order of the walk, the key of the update
    label: InstrumentedAttribute[str]  # the id reported, and the one in the associated data
    key_id: InstrumentedAttribute[Any]
    blob: InstrumentedAttribute[Any]
    aad: Callable[[str], bytes]


DOSSIER = SealedColumn(
    "dossier",
    Dossier,
    Dossier.id,
    Dossier.id_dossier,
    Dossier.identite_key_id,
    Dossier.identite_ciphertext,
    row_aad,
)
ORIENTATION = SealedColumn(
    "orientation",
    Orientation,
    Orientation.id,
    Orientation.id,
    Orientation.candidat_key_id,
    Orientation.candidat_ciphertext,
    candidat_aad,
)
# A lot's body is NULL once its outcomes are recorded: NULL key ids match no filter below.
LOT = SealedColumn(
    "lot",
    LotReprise,
    LotReprise.cle,
    LotReprise.cle,
    LotReprise.corps_key_id,
    LotReprise.corps,
    body_aad,
)
SEALED = (DOSSIER, ORIENTATION, LOT)


@dataclass
class LeftBehind:
    """Rows a rotation left under their old key: how many, and the first ids."""

    count: int = 0
    ids: list[str] = field(default_factory=list)

    def add(self, row_id: str) -> None:
        self.count += 1
        if len(self.ids) < LISTED_IDS:
            self.ids.append(row_id)


@dataclass
class RotationReport:
    """What a rotation did to one table. Row ids and key ids only, never personal data."""

    rotated: int = 0
    # By key id: rows under a key no longer in NIR_KEYS, which nothing here can decrypt.
    unknown_keys: dict[str, LeftBehind] = field(default_factory=dict)
    # Rows under a configured key whose ciphertext does not authenticate for their row.
    not_authentic: LeftBehind = field(default_factory=LeftBehind)

    @property
    def left_behind(self) -> int:
        return self.not_authentic.count + sum(left.count for left in self.unknown_keys.values())


async def rotate_all(
    session_maker: async_sessionmaker[AsyncSession], crypto: NirCrypto, *, batch_size: int = 1000
) -> dict[str, RotationReport]:
    """Every sealed table rotated, in `SEALED`'s order; the reports by kind."""
    return {
        sealed.kind: await rotate(session_maker, crypto, sealed, batch_size=batch_size)
        for sealed in SEALED
    }


async def rotate(
    session_maker: async_sessionmaker[AsyncSession],
    crypto: NirCrypto,
    sealed: SealedColumn,
    *,
    batch_size: int = 1000,
) -> RotationReport:
    """Re-encrypt under the newest key every ciphertext of `sealed` under an older one; one
    commit a batch."""
    report = RotationReport()
    after: Any = None  # the primary key of the last row seen
    while True:
        async with session_maker() as session, session.begin():
            batch = (await session.execute(_stale_rows(sealed, crypto, after, batch_size))).all()
            if not batch:
                break
            updates = [_reencrypted(sealed, row, crypto, report) for row in batch]
            rotated = [values for values in updates if values is not None]
            if rotated:
                await session.execute(update(sealed.model), rotated)
        report.rotated += len(rotated)
        after = batch[-1][0]
    async with session_maker() as session:
        await _report_unknown_keys(session, sealed, crypto, report)
    return report


def _stale_rows(
    sealed: SealedColumn, crypto: NirCrypto, after: Any, batch_size: int
) -> Select[Any]:
    statement = select(sealed.primary_key, sealed.label, sealed.key_id, sealed.blob).where(
        sealed.key_id != crypto.newest_key_id,
        # Rows under a key no longer configured cannot be decrypted: they are reported.
        sealed.key_id.in_(crypto.key_ids),
    )
    if after is not None:
        statement = statement.where(sealed.primary_key > after)
    return statement.order_by(sealed.primary_key).limit(batch_size).with_for_update()


def _reencrypted(
    sealed: SealedColumn, row: Any, crypto: NirCrypto, report: RotationReport
) -> dict[str, Any] | None:
    primary_key, label, old_key_id, old_blob = row
    aad = sealed.aad(label)
    try:
        # The plaintext as it is, not re-encoded: a rotation changes the key, nothing else.
        clear = crypto.decrypt(old_key_id, old_blob, aad=aad)
    except NirDecryptionError:
        report.not_authentic.add(label)
        return None
    key_id, blob = crypto.encrypt(clear, aad=aad)
    return {
        sealed.primary_key.key: primary_key,
        sealed.key_id.key: key_id,
        sealed.blob.key: blob,
    }


async def _report_unknown_keys(
    session: AsyncSession, sealed: SealedColumn, crypto: NirCrypto, report: RotationReport
) -> None:
    statement = (
        select(sealed.key_id, sealed.label)
        .where(sealed.key_id.not_in(crypto.key_ids))
        .order_by(sealed.primary_key)
    )
    async for key_id, label in await session.stream(statement):
        report.unknown_keys.setdefault(key_id, LeftBehind()).add(label)
