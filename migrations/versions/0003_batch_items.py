"""Batch ledger: one row per batch item, content and versions, done or failed with its reason.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=300), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("versions_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("interaction_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ruleset_version", sa.String(length=100), nullable=True),
        sa.Column("versions", JSON, nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=True),
        sa.Column("flag", sa.String(length=10), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("status IN ('done', 'failed')", name=op.f("ck_batch_items_status")),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=op.f("fk_batch_items_result_id_results"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_items")),
        sa.UniqueConstraint("item_key", "content_hash", "versions_hash", name="uq_batch_items_item"),
    )
    op.create_index("ix_batch_items_batch_status", "batch_items", ["batch_id", "status"], unique=False)
    op.create_index(op.f("ix_batch_items_interaction_id"), "batch_items", ["interaction_id"], unique=False)


def downgrade() -> None:
    op.drop_table("batch_items")
