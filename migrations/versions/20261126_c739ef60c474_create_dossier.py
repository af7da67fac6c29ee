"""create dossier

Revision ID: c739ef60c474
Revises:
Create Date: 2026-11-26 08:30:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c739ef60c474"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dossier",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id_dossier", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("date_maj", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("nir_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("nir_key_id", sa.String(length=32), nullable=True),
        sa.Column("nir_index", sa.String(length=64), nullable=True),
        sa.Column("classement", sa.String(length=16), nullable=False),
        sa.Column("motif", sa.String(length=64), nullable=True),
        sa.Column("versions_ignorees", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "classement IN ('ENVOYABLE', 'EXCLU', 'RETENU')",
            name=op.f("ck_dossier_classement"),
        ),
        sa.CheckConstraint(
            "(nir_ciphertext IS NULL) = (nir_key_id IS NULL)"
            " AND (nir_key_id IS NULL) = (nir_index IS NULL)",
            name=op.f("ck_dossier_nir_complet"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier")),
        sa.UniqueConstraint("id_dossier", name=op.f("uq_dossier_id_dossier")),
    )
    op.create_index(op.f("ix_dossier_nir_index"), "dossier", ["nir_index"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dossier_nir_index"), table_name="dossier")
    op.drop_table("dossier")
