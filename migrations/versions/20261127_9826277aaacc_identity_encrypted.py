"""identity encrypted: no name or birth date in clear, in dossier or in etat_agora

Revision ID: 9826277aaacc
Revises: 5d1e0a7c2b90
Create Date: 2026-11-27 08:15:00.000000+00:00

Schema and data in one transaction (both databases run DDL in transactions here): the
stagiaire's NIR, names and birth date move from `nir_ciphertext` and the payload's JSON into
one encrypted blob (`identite_ciphertext`, `storage/identity.py`); `etat_agora` trades its
titulaire for a keyed digest (`titulaire_index`). The data part needs the keys: from
`config.attributes["nir_crypto"]` when given (tests), else from Settings, like every command;
an empty database needs none. A row whose NIR cannot be decrypted stops the migration, which
then leaves everything as it was, and names the dossiers (never a value). Offline (`--sql`)
only the schema is written: the rows need the keys, so an upgrade with rows runs online.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from agora_bridge.decision.planner import project
from agora_bridge.errors import OperatorError
from agora_bridge.settings import Settings
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.storage import identity
from agora_bridge.storage.crypto import NirCrypto, NirDecryptionError, row_aad

revision: str = "9826277aaacc"
down_revision: str | Sequence[str] | None = "5d1e0a7c2b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_DOSSIER = sa.table(
    "dossier",
    sa.column("id", sa.Integer()),
    sa.column("id_dossier", sa.String()),
    sa.column("payload", _JSON),
    sa.column("nir_ciphertext", sa.LargeBinary()),
    sa.column("nir_key_id", sa.String()),
    sa.column("nir_index", sa.String()),
    sa.column("identite_ciphertext", sa.LargeBinary()),
    sa.column("identite_key_id", sa.String()),
    sa.column("identite_index", sa.String()),
)
_ETAT = sa.table(
    "etat_agora",
    sa.column("id_dossier", sa.String()),
    sa.column("acquitte", _JSON),
    sa.column("nir_index", sa.String()),
    sa.column("titulaire_index", sa.String()),
)
# The old code restores a titulaire when the NIR's index matches: this one never does.
_UNKNOWN = {"nom_naissance": "INCONNU", "prenom": "INCONNU", "date_naissance": "1900-01-01"}
_UNKNOWN_NIR = "0" * 13


def upgrade() -> None:
    with op.batch_alter_table("dossier") as batch:
        batch.add_column(sa.Column("identite_ciphertext", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("identite_key_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("identite_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("etat_agora") as batch:
        batch.add_column(sa.Column("titulaire_index", sa.String(length=64), nullable=True))
    crypto = _Crypto()
    _rewrite(_DOSSIER, _DOSSIER.c.id, lambda row: _encrypted(row, crypto()))
    _rewrite(_ETAT, _ETAT.c.id_dossier, lambda row: _digested(row, crypto()))
    with op.batch_alter_table("dossier") as batch:
        batch.drop_constraint(op.f("ck_dossier_nir_complet"), type_="check")
        batch.drop_column("nir_ciphertext")
        batch.drop_column("nir_key_id")
        batch.alter_column("identite_ciphertext", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("identite_key_id", existing_type=sa.String(length=32), nullable=False)
        batch.alter_column("identite_index", existing_type=sa.String(length=64), nullable=False)
        batch.create_index(batch.f("ix_dossier_identite_index"), ["identite_index"])
    with op.batch_alter_table("etat_agora") as batch:
        batch.drop_column("nir_index")
        batch.alter_column("titulaire_index", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("dossier") as batch:
        batch.add_column(sa.Column("nir_ciphertext", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("nir_key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("etat_agora") as batch:
        batch.add_column(sa.Column("nir_index", sa.String(length=64), nullable=True))
    crypto = _Crypto()
    _rewrite(_ETAT, _ETAT.c.id_dossier, lambda row: _restored_titulaire(row, crypto()))
    _rewrite(_DOSSIER, _DOSSIER.c.id, lambda row: _decrypted(row, crypto()))
    with op.batch_alter_table("etat_agora") as batch:
        batch.drop_column("titulaire_index")
        batch.alter_column("nir_index", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("dossier") as batch:
        batch.drop_index(batch.f("ix_dossier_identite_index"))
        batch.drop_column("identite_index")
        batch.drop_column("identite_key_id")
        batch.drop_column("identite_ciphertext")
        batch.create_check_constraint(
            "nir_complet",
            "(nir_ciphertext IS NULL) = (nir_key_id IS NULL)"
            " AND (nir_key_id IS NULL) = (nir_index IS NULL)",
        )


class _Crypto:
    """The keys, read only once a row needs them: an empty database migrates without any."""

    def __init__(self) -> None:
        self._crypto: NirCrypto | None = context.config.attributes.get("nir_crypto")

    def __call__(self) -> NirCrypto:
        if self._crypto is None:
            self._crypto = NirCrypto.from_settings(Settings())
        return self._crypto


def _rewrite(
    table: sa.TableClause,
    key: sa.ColumnClause[Any],
    change: Callable[[sa.Row[Any]], dict[str, Any] | None],
) -> None:
    """`change` every row, batch by batch in key order; a row it cannot change (None) stops
    the migration once every row was tried, naming those dossiers."""
    if context.is_offline_mode():
        # No rows to read, no keys: on a database with rows, the NOT NULL that follows fails.
        op.execute(f"-- {table.name}: rows are rewritten by `agora-bridge db upgrade` only")
        return
    connection = op.get_bind()
    failed: list[str] = []
    for rows in _batches(connection, table, key):
        changes = [change(row) for row in rows]
        pairs = list(zip(rows, changes, strict=True))
        failed += [row.id_dossier for row, values in pairs if values is None]
        # Bound as b_<column>: a bind parameter may not share its column's name.
        done = [
            {"b_key": row[0], **{f"b_{name}": value for name, value in values.items()}}
            for row, values in pairs
            if values is not None
        ]
        if done:
            names = [name[2:] for name in done[0] if name != "b_key"]
            statement = (
                table.update()
                .where(key == sa.bindparam("b_key"))
                .values({name: sa.bindparam(f"b_{name}") for name in names})
            )
            connection.execute(statement, done)
    if failed:
        shown = ", ".join(failed[:20]) + (", …" if len(failed) > 20 else "")
        raise OperatorError(
            f"{len(failed)} dossier(s) whose NIR cannot be decrypted ({shown}): put their key "
            "back in AGORA_BRIDGE_NIR_KEYS and run `agora-bridge db upgrade` again"
        )


def _batches(
    connection: Connection, table: sa.TableClause, key: sa.ColumnClause[Any]
) -> Iterator[Sequence[sa.Row[Any]]]:
    after: Any = None
    while True:
        query = sa.select(key, *(c for c in table.c if c is not key)).order_by(key).limit(_BATCH)
        rows = connection.execute(query if after is None else query.where(key > after)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _encrypted(row: sa.Row[Any], crypto: NirCrypto) -> dict[str, Any] | None:
    try:
        nir = _old_nir(row, crypto)
    except NirDecryptionError:
        return None
    payload, person = identity.split(row.payload)
    columns = identity.columns(row.id_dossier, {**person, "nir": nir}, crypto)
    return {"payload": payload, **columns}


def _old_nir(row: sa.Row[Any], crypto: NirCrypto) -> str | None:
    if row.nir_key_id is None:
        return None
    return crypto.decrypt(row.nir_key_id, row.nir_ciphertext, aad=row_aad(row.id_dossier))


def _digested(row: sa.Row[Any], crypto: NirCrypto) -> dict[str, Any]:
    acquitte = dict(row.acquitte)
    titulaire = acquitte.pop("titulaire")
    digest = identity.titulaire_index(crypto, nir_index=row.nir_index, **titulaire)
    return {"acquitte": acquitte, "titulaire_index": digest}


def _decrypted(row: sa.Row[Any], crypto: NirCrypto) -> dict[str, Any] | None:
    try:
        person = identity.decrypt(
            row.id_dossier, row.identite_key_id, row.identite_ciphertext, crypto
        )
    except NirDecryptionError:
        return None
    payload, _ = identity.split(row.payload)
    nir = person.pop("nir")
    key_id, blob = crypto.encrypt(nir, aad=row_aad(row.id_dossier)) if nir else (None, None)
    return {
        "payload": {**payload, "stagiaire": {**payload["stagiaire"], **person}},
        "nir_key_id": key_id,
        "nir_ciphertext": blob,
    }


def _restored_titulaire(row: sa.Row[Any], crypto: NirCrypto) -> dict[str, Any] | None:
    """The titulaire back in `acquitte` when its digest is the stored snapshot's, else one
    whose NIR index matches nothing, so that the old code rectifies it as it would have."""
    query = sa.select(_DOSSIER).where(_DOSSIER.c.id_dossier == row.id_dossier)
    dossier = op.get_bind().execute(query).one_or_none()
    titulaire, nir_index = {**_UNKNOWN, "sexe": "M"}, crypto.blind_index(_UNKNOWN_NIR)
    if dossier is not None:
        try:
            person = identity.decrypt(
                row.id_dossier, dossier.identite_key_id, dossier.identite_ciphertext, crypto
            )
        except NirDecryptionError:
            return None
        known = _titulaire(identity.merged(dossier.payload, person), crypto)
        if known is not None and known[1] == row.titulaire_index:
            titulaire, nir_index = known[0], crypto.blind_index(known[2])
    return {"acquitte": {**row.acquitte, "titulaire": titulaire}, "nir_index": nir_index}


def _titulaire(
    payload: dict[str, Any], crypto: NirCrypto
) -> tuple[dict[str, str], str, str] | None:
    """(the titulaire as the old `acquitte` held it, its digest, its NIR) of a snapshot."""
    if not payload["stagiaire"].get("nir"):
        return None
    t = project(Snapshot.model_validate(payload)).titulaire
    fields = {
        "nom_naissance": t.nom_naissance,
        "prenom": t.prenom,
        "date_naissance": t.date_naissance.isoformat(),
        "sexe": t.sexe,
    }
    return (
        fields,
        identity.titulaire_index(crypto, nir_index=crypto.blind_index(t.nir), **fields),
        t.nir,
    )
