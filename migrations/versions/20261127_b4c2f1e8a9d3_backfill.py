"""backfill: the reprise's progress and its lots

Revision ID: b4c2f1e8a9d3
Revises: 3b7e51c0a9d2
Create Date: 2026-11-27 09:40:00.000000+00:00

Static and reversible.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b4c2f1e8a9d3"
down_revision: str | Sequence[str] | None = "3b7e51c0a9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reprise",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("fichier", sa.String(length=255), nullable=False),
        sa.Column("since_date", sa.Date(), nullable=False),
        sa.Column("lignes_lues", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("compteurs", _JSON, nullable=False),
        sa.Column("lecture_finie_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termine_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reprise")),
    )
    op.create_table(
        "lot_reprise",
        sa.Column("cle", sa.String(length=64), nullable=False),
        sa.Column("reprise_id", sa.String(length=32), nullable=False),
        sa.Column("numero", sa.Integer(), nullable=False),
        sa.Column("statut", sa.String(length=16), nullable=False),
        sa.Column("nb_lignes", sa.Integer(), nullable=False),
        sa.Column("dossiers", _JSON, nullable=False),
        sa.Column("corps", sa.LargeBinary(), nullable=True),
        sa.Column("corps_key_id", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("id_lot", sa.String(length=32), nullable=True),
        sa.Column("resultats", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("depose_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("traite_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "statut IN ('PRET', 'DEPOSE', 'TRAITE', 'REFUSE')", name=op.f("ck_lot_reprise_statut")
        ),
        sa.ForeignKeyConstraint(
            ["reprise_id"], ["reprise.id"], name=op.f("fk_lot_reprise_reprise_id_reprise")
        ),
        sa.PrimaryKeyConstraint("cle", name=op.f("pk_lot_reprise")),
    )
    op.create_index("ix_lot_reprise_reprise_id", "lot_reprise", ["reprise_id"], unique=False)
    op.create_index("ix_livraison_lot_id", "livraison", ["lot_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_livraison_lot_id", table_name="livraison")
    op.drop_index("ix_lot_reprise_reprise_id", table_name="lot_reprise")
    op.drop_table("lot_reprise")
    op.drop_table("reprise")
