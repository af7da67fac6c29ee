"""ops_session: the ops page's browser sessions, ended server-side at sign-out

Revision ID: e5a1c9d04b7f
Revises: b4c2f1e8a9d3
Create Date: 2026-11-27 22:55:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5a1c9d04b7f"
down_revision: str | Sequence[str] | None = "b4c2f1e8a9d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_ops_session")),
    )
    op.create_index(op.f("ix_ops_session_key_id"), "ops_session", ["key_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ops_session_key_id"), table_name="ops_session")
    op.drop_table("ops_session")
