"""delivery: acknowledged AGORA state and work items

Revision ID: 5d1e0a7c2b90
Revises: 4df01feaff9a
Create Date: 2026-11-27 07:10:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5d1e0a7c2b90"
down_revision: str | Sequence[str] | None = "4df01feaff9a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "etat_agora",
        sa.Column("id_dossier", sa.String(length=64), nullable=False),
        sa.Column("id_agora", sa.String(length=32), nullable=False),
        sa.Column(
            "acquitte",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("nir_index", sa.String(length=64), nullable=False),
        sa.Column("acquitte_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_dossier", name=op.f("pk_etat_agora")),
        sa.UniqueConstraint("id_agora", name=op.f("uq_etat_agora_id_agora")),
    )
    op.create_table(
        "livraison",
        sa.Column("id_dossier", sa.String(length=64), nullable=False),
        sa.Column("etat", sa.String(length=16), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verifier", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("body_digest", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("motif_retenue", sa.String(length=64), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=64), nullable=True),
        sa.Column("lot_id", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "etat IN ('A_FAIRE', 'A_JOUR', 'PARQUE', 'RETENU')", name=op.f("ck_livraison_etat")
        ),
        sa.PrimaryKeyConstraint("id_dossier", name=op.f("pk_livraison")),
    )
    op.create_index("ix_livraison_etat_due_at", "livraison", ["etat", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_livraison_etat_due_at", table_name="livraison")
    op.drop_table("livraison")
    op.drop_table("etat_agora")
