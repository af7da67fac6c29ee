"""reconciliation runs

Revision ID: b93788d7f8fb
Revises: 9826277aaacc
Create Date: 2026-11-27 09:40:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b93788d7f8fb"
down_revision: str | Sequence[str] | None = "9826277aaacc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("graine", sa.BigInteger(), nullable=True),
        sa.Column("lus", sa.Integer(), nullable=False),
        sa.Column("conformes", sa.Integer(), nullable=False),
        sa.Column("ecarts", sa.Integer(), nullable=False),
        sa.Column("absents", sa.Integer(), nullable=False),
        sa.Column("occupes", sa.Integer(), nullable=False),
        sa.Column(
            "echecs",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("interrompu", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation")),
    )
    op.create_index(
        op.f("ix_reconciliation_finished_at"), "reconciliation", ["finished_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reconciliation_finished_at"), table_name="reconciliation")
    op.drop_table("reconciliation")
