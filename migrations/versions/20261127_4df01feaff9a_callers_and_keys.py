"""callers and keys of the HTTP API

Revision ID: 4df01feaff9a
Revises: 8002a6367902
Create Date: 2026-11-27 07:15:00.000000+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4df01feaff9a"
down_revision: str | Sequence[str] | None = "8002a6367902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=True),
        sa.Column("structure_code", sa.String(length=64), nullable=True),
        sa.Column("structure_type", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('REGION_SI', 'OPS', 'ORGANISME', 'PRESCRIPTEUR')",
            name=op.f("ck_organisation_role"),
        ),
        sa.CheckConstraint(
            "(role = 'ORGANISME') = (siret IS NOT NULL)", name=op.f("ck_organisation_siret")
        ),
        sa.CheckConstraint(
            "(role = 'PRESCRIPTEUR') = (structure_code IS NOT NULL)"
            " AND (structure_code IS NULL) = (structure_type IS NULL)",
            name=op.f("ck_organisation_structure"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
    )
    op.create_index(op.f("ix_organisation_siret"), "organisation", ["siret"], unique=False)
    op.create_table(
        "cle_api",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_cle_api_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cle_api")),
    )
    op.create_index(
        op.f("ix_cle_api_organisation_id"), "cle_api", ["organisation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cle_api_organisation_id"), table_name="cle_api")
    op.drop_table("cle_api")
    op.drop_index(op.f("ix_organisation_siret"), table_name="organisation")
    op.drop_table("organisation")
