"""Every table of the bridge, on one metadata, so that Alembic sees the whole schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are part of the schema: migrations must be able to name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime: the database stores instants, give an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# 64 bits on PostgreSQL, where every insert attempt draws a sequence value; SQLite's
# autoincrementing rowid must be declared INTEGER and is 64 bits anyway.
Identifier = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact); plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Dossier(Base):
    """The latest snapshot stored for each dossier, its identity only in encrypted form."""

    __tablename__ = "dossier"
    __table_args__ = (
        CheckConstraint("classement IN ('ENVOYABLE', 'EXCLU', 'RETENU')", name="classement"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    id_dossier: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(BigInteger)
    # The Région's own field name; an instant like our `_at` columns.
    date_maj: Mapped[datetime] = mapped_column(UtcDateTime)
    # The snapshot as JSON without the stagiaire's NIR, names and birth date (`identite_…`).
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # AES-GCM of the stagiaire's NIR, names and birth date (`storage/identity.py`), and the id
    # of the key that encrypted it.
    identite_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    identite_key_id: Mapped[str] = mapped_column(String(32))
    # HMAC-SHA256 of the normalised NIR, hex: finds a person's dossiers without decrypting.
    nir_index: Mapped[str | None] = mapped_column(String(64), index=True)
    # HMAC-SHA256 of the names and birth date as AGORA receives them: the match without a NIR.
    identite_index: Mapped[str] = mapped_column(String(64), index=True)
    classement: Mapped[str] = mapped_column(String(16))
    motif: Mapped[str | None] = mapped_column(String(64))
    # Snapshots received with a version not above the stored one: counted, never applied.
    versions_ignorees: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerEntry(Base):
    """The audit ledger: append-only, each entry chained to the one before by its hash.

    Structured fields only, no free text: nothing here can carry a NIR, a name or a birth date.
    """

    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    id_dossier: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int | None] = mapped_column(BigInteger)
    operation: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(36))
    http_status: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(64))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Organisation(Base):
    """A caller of the HTTP API: the Région's system, the ops team, an organisme de formation
    (by its SIRET) or a prescriber (by its structure code and type)."""

    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint("role IN ('REGION_SI', 'OPS', 'ORGANISME', 'PRESCRIPTEUR')", name="role"),
        # Each role carries exactly its own identifiers: a caller's scope derives from them.
        CheckConstraint("(role = 'ORGANISME') = (siret IS NOT NULL)", name="siret"),
        CheckConstraint(
            "(role = 'PRESCRIPTEUR') = (structure_code IS NOT NULL)"
            " AND (structure_code IS NULL) = (structure_type IS NULL)",
            name="structure",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    siret: Mapped[str | None] = mapped_column(String(14), index=True)
    structure_code: Mapped[str | None] = mapped_column(String(64))
    structure_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CleApi(Base):
    """An API key: its public id and the SHA-256 of its secret, never the secret itself."""

    __tablename__ = "cle_api"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organisation.id"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EtatAgora(Base):
    """What AGORA last acknowledged of a dossier: the planner's input (`docs/DELIVERY.md`).

    `acquitte` is the `AgoraDossier` as JSON without its titulaire (NIR, names, birth date,
    sex): `titulaire_index` is a keyed digest of the titulaire AGORA holds
    (`identity.titulaire_index`), enough to tell whether it is the snapshot's.
    """

    __tablename__ = "etat_agora"

    id_dossier: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_agora: Mapped[str] = mapped_column(String(32), unique=True)
    acquitte: Mapped[dict[str, Any]] = mapped_column(Json)
    titulaire_index: Mapped[str] = mapped_column(String(64))
    acquitte_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Livraison(Base):
    """One work item per dossier that needed delivering: "plan and send what is missing".

    Never the operations themselves: the engine plans at send time (`docs/DELIVERY.md`).
    """

    __tablename__ = "livraison"
    __table_args__ = (
        CheckConstraint("etat IN ('A_FAIRE', 'A_JOUR', 'PARQUE', 'RETENU')", name="etat"),
        # The claim query: due items, oldest first.
        Index("ix_livraison_etat_due_at", "etat", "due_at"),
    )

    id_dossier: Mapped[str] = mapped_column(String(64), primary_key=True)
    etat: Mapped[str] = mapped_column(String(16))
    # Bumped by every stored snapshot: an outcome closes the item only if it is unchanged.
    generation: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Failed attempts since the last success: the backoff's exponent.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The claim: a token unique to one claim, and when it lapses.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Read AGORA before sending: an ambiguous failure, or a claim taken from a lapsed lease.
    verifier: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The creation's Idempotency-Key and the digest of the body it was first sent with.
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    # A parked call: AGORA's code and message (NIR-shaped text redacted); a hold's reason.
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    motif_retenue: Mapped[str | None] = mapped_column(String(64))
    parked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(64))
    # Set by the backfill while the dossier is in a lot in flight: the engine leaves it alone.
    lot_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # When the newest snapshot made it due: the age of the oldest pending item.
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Reconciliation(Base):
    """One run of `reconcile`, counts only (the drifted dossiers are in the ledger): what
    the ops status shows of the last one without asking AGORA."""

    __tablename__ = "reconciliation"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    mode: Mapped[str] = mapped_column(String(16))  # `echantillon` or `tout`
    graine: Mapped[int | None] = mapped_column(BigInteger)
    lus: Mapped[int] = mapped_column(Integer)
    conformes: Mapped[int] = mapped_column(Integer)
    ecarts: Mapped[int] = mapped_column(Integer)
    absents: Mapped[int] = mapped_column(Integer)
    occupes: Mapped[int] = mapped_column(Integer)
    echecs: Mapped[dict[str, Any]] = mapped_column(Json)  # failed reads by code
    interrompu: Mapped[bool] = mapped_column(Boolean)


class Retour(Base):
    """The return flow (`operations.md`, "The HTTP API"): what AGORA said of each dossier, and
    the bridge's holds, in the order they were committed (`storage/retours.py`).

    Ids, versions, AGORA's codes and statuses only; AGORA's message with NIR-shaped text
    redacted. Each row is written in the transaction of the outcome it reports, after the
    ledger's lock: ids follow commit order, so the feed's cursor is the id.
    """

    __tablename__ = "retour"
    __table_args__ = (
        CheckConstraint(
            "evenement IN ('ID_AGORA_ATTRIBUE', 'ETAT_ACQUITTE', 'REJETE', 'RETENU', 'REPRIS')",
            name="evenement",
        ),
        # A dossier's last event (REPRIS follows a REJETE or RETENU), and its history.
        Index("ix_retour_id_dossier_id", "id_dossier", "id"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    evenement: Mapped[str] = mapped_column(String(24))
    id_dossier: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(BigInteger)
    id_agora: Mapped[str | None] = mapped_column(String(32))
    statut: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Orientation(Base):
    """An orientation of `ouiform.md`, as it is now. The candidate only encrypted (one AES-GCM
    blob, `orientation:<id>` as associated data) and by its blind indexes; `etat` is the
    rest of what changes (`storage/orientations.py`), `seq` the number of its last change."""

    __tablename__ = "orientation"
    __table_args__ = (
        Index("ix_orientation_organisme_siret_seq", "organisme_siret", "seq"),
        Index("ix_orientation_cree_par_seq", "cree_par", "seq"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    statut: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    cree_par: Mapped[str] = mapped_column(String(36), ForeignKey("organisation.id"))
    prescripteur_code: Mapped[str | None] = mapped_column(String(64))
    prescripteur_type: Mapped[str | None] = mapped_column(String(32))
    organisme_siret: Mapped[str] = mapped_column(String(14))
    action_numero: Mapped[str] = mapped_column(String(100))
    session_numero: Mapped[str] = mapped_column(String(100), index=True)
    candidat_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    candidat_key_id: Mapped[str] = mapped_column(String(32))
    nir_index: Mapped[str | None] = mapped_column(String(64), index=True)
    identite_index: Mapped[str] = mapped_column(String(64), index=True)
    etat: Mapped[dict[str, Any]] = mapped_column(Json)
    # The 3-working-day rule: when the entry was declared, and the Région dossier matched.
    entree_declaree_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    dossier_apparie: Mapped[str | None] = mapped_column(String(64))
    dossier_entree_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OrientationChangement(Base):
    """Every change of every orientation, numbered in commit order (`seq`): the Région's feed,
    and the stable order of a listing while orientations change. `etat` as in Orientation."""

    __tablename__ = "orientation_changement"
    __table_args__ = (
        Index("ix_orientation_changement_orientation_id_seq", "orientation_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    orientation_id: Mapped[str] = mapped_column(String(36), ForeignKey("orientation.id"))
    version: Mapped[int] = mapped_column(Integer)
    etat: Mapped[dict[str, Any]] = mapped_column(Json)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Compteur(Base):
    """Counters taken under their row lock until commit: numbers that commit in order."""

    __tablename__ = "compteur"

    nom: Mapped[str] = mapped_column(String(32), primary_key=True)
    valeur: Mapped[int] = mapped_column(BigInteger)


class Idempotence(Base):
    """An orientation creation's `Idempotency-Key`, per caller, kept 24 h: the keyed digest of
    the body it came with and the orientation it created (whose first version is the 201)."""

    __tablename__ = "idempotence"

    organisation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organisation.id"), primary_key=True
    )
    cle: Mapped[str] = mapped_column(String(255), primary_key=True)
    empreinte: Mapped[str] = mapped_column(String(64))
    orientation_id: Mapped[str] = mapped_column(String(36), ForeignKey("orientation.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Reprise(Base):
    """One backfill of one file (`agora-bridge backfill`): how far it got, durably.

    `id` is a digest of the file's content (its size, first and last MiB), so that the same
    command run again finds its progress; `compteurs` are the report's counts of the lines
    stored so far, written in the transaction of each batch.
    """

    __tablename__ = "reprise"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fichier: Mapped[str] = mapped_column(String(255))
    since_date: Mapped[date] = mapped_column(Date)
    # The physical number of the last line whose batch is committed.
    lignes_lues: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    compteurs: Mapped[dict[str, Any]] = mapped_column(Json)
    lecture_finie_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    termine_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LotReprise(Base):
    """A lot of the backfill, recorded before it is submitted: a crash after submission
    finds it again by its key (the same key and body give the same AGORA lot).

    `cle` is the Idempotency-Key, the SHA-256 of the body; the body is kept encrypted
    (it holds NIRs and names) until the lot's outcomes are recorded, then dropped.
    """

    __tablename__ = "lot_reprise"
    __table_args__ = (
        CheckConstraint("statut IN ('PRET', 'DEPOSE', 'TRAITE', 'REFUSE')", name="statut"),
    )

    cle: Mapped[str] = mapped_column(String(64), primary_key=True)
    reprise_id: Mapped[str] = mapped_column(String(32), ForeignKey("reprise.id"), index=True)
    numero: Mapped[int] = mapped_column(Integer)
    statut: Mapped[str] = mapped_column(String(16))
    nb_lignes: Mapped[int] = mapped_column(Integer)
    # Line n (from 1) is dossiers[n - 1]: [id_dossier, generation of its work item, version].
    dossiers: Mapped[list[Any]] = mapped_column(Json)
    corps: Mapped[bytes | None] = mapped_column(LargeBinary)
    corps_key_id: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(36))
    id_lot: Mapped[str | None] = mapped_column(String(32))
    # The compte-rendu: {"ACCEPTE": n, "DOUBLON": n, "REJETE": {code: n}, "A_REPRENDRE": n}.
    resultats: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    depose_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    traite_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OpsSession(Base):
    """A browser session of the ops page (`ops/session.py`): the cookie carries its id, this
    row says it is still open. Signing out ends it here, so a copy of the cookie taken before
    is refused too, on every replica."""

    __tablename__ = "ops_session"

    # SHA-256 of the session id the cookie carries (hex): the table alone opens nothing.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
