"""orientations of the OUIFORM-style API, their changes, creation keys, counters

Revision ID: 3b7e51c0a9d2
Revises: 93bd533bc17b
Create Date: 2026-11-27 09:26:03.034057+00:00

Static and reversible: review the generated operations by hand before committing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3b7e51c0a9d2"
down_revision: str | Sequence[str] | None = "93bd533bc17b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    compteur = op.create_table(
        "compteur",
        sa.Column("nom", sa.String(length=32), nullable=False),
        sa.Column("valeur", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nom", name=op.f("pk_compteur")),
    )
    op.bulk_insert(compteur, [{"nom": "orientation", "valeur": 0}])
    op.create_table(
        "orientation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("statut", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("cree_par", sa.String(length=36), nullable=False),
        sa.Column("prescripteur_code", sa.String(length=64), nullable=True),
        sa.Column("prescripteur_type", sa.String(length=32), nullable=True),
        sa.Column("organisme_siret", sa.String(length=14), nullable=False),
        sa.Column("action_numero", sa.String(length=100), nullable=False),
        sa.Column("session_numero", sa.String(length=100), nullable=False),
        sa.Column("candidat_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("candidat_key_id", sa.String(length=32), nullable=False),
        sa.Column("nir_index", sa.String(length=64), nullable=True),
        sa.Column("identite_index", sa.String(length=64), nullable=False),
        sa.Column("etat", JSON, nullable=False),
        sa.Column("entree_declaree_at", INSTANT, nullable=True),
        sa.Column("dossier_apparie", sa.String(length=64), nullable=True),
        sa.Column("dossier_entree_date", sa.Date(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["cree_par"], ["organisation.id"], name=op.f("fk_orientation_cree_par_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orientation")),
        sa.UniqueConstraint("seq", name=op.f("uq_orientation_seq")),
    )
    op.create_index("ix_orientation_cree_par_seq", "orientation", ["cree_par", "seq"])
    op.create_index("ix_orientation_organisme_siret_seq", "orientation", ["organisme_siret", "seq"])
    for column in ("entree_declaree_at", "identite_index", "nir_index", "session_numero"):
        op.create_index(op.f(f"ix_orientation_{column}"), "orientation", [column])
    op.create_table(
        "idempotence",
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("cle", sa.String(length=255), nullable=False),
        sa.Column("empreinte", sa.String(length=64), nullable=False),
        sa.Column("orientation_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_idempotence_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["orientation_id"],
            ["orientation.id"],
            name=op.f("fk_idempotence_orientation_id_orientation"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", "cle", name=op.f("pk_idempotence")),
    )
    op.create_index(op.f("ix_idempotence_created_at"), "idempotence", ["created_at"])
    op.create_table(
        "orientation_changement",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("orientation_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("etat", JSON, nullable=False),
        sa.Column("changed_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["orientation_id"],
            ["orientation.id"],
            name=op.f("fk_orientation_changement_orientation_id_orientation"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_orientation_changement")),
    )
    op.create_index(
        "ix_orientation_changement_orientation_id_seq",
        "orientation_changement",
        ["orientation_id", "seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_orientation_changement_orientation_id_seq", "orientation_changement")
    op.drop_table("orientation_changement")
    op.drop_index(op.f("ix_idempotence_created_at"), "idempotence")
    op.drop_table("idempotence")
    for column in ("entree_declaree_at", "identite_index", "nir_index", "session_numero"):
        op.drop_index(op.f(f"ix_orientation_{column}"), "orientation")
    op.drop_index("ix_orientation_organisme_siret_seq", "orientation")
    op.drop_index("ix_orientation_cree_par_seq", "orientation")
    op.drop_table("orientation")
    op.drop_table("compteur")
