"""retours: the return flow's events

Revision ID: 93bd533bc17b
Revises: b93788d7f8fb
Create Date: 2026-11-27 09:40:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "93bd533bc17b"
down_revision: str | Sequence[str] | None = "b93788d7f8fb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retour",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evenement", sa.String(length=24), nullable=False),
        sa.Column("id_dossier", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("id_agora", sa.String(length=32), nullable=True),
        sa.Column("statut", sa.String(length=16), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "evenement IN ('ID_AGORA_ATTRIBUE', 'ETAT_ACQUITTE', 'REJETE', 'RETENU', 'REPRIS')",
            name=op.f("ck_retour_evenement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retour")),
    )
    op.create_index("ix_retour_id_dossier_id", "retour", ["id_dossier", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_retour_id_dossier_id", table_name="retour")
    op.drop_table("retour")
