"""audit ledger

Revision ID: 8002a6367902
Revises: c739ef60c474
Create Date: 2026-11-27 06:51:52.969017+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8002a6367902"
down_revision: str | Sequence[str] | None = "c739ef60c474"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("id_dossier", sa.String(length=64), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("operation", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("body_digest", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("hash", name=op.f("uq_ledger_entry_hash")),
    )
    op.create_index(
        op.f("ix_ledger_entry_id_dossier"), "ledger_entry", ["id_dossier"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_entry_id_dossier"), table_name="ledger_entry")
    op.drop_table("ledger_entry")
