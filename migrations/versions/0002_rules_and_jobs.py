"""Uploaded rule pack / scorecard versions, audio ingest jobs, and KPI keys on results.

Results get the interaction's agent, team and report date (back-filled here), with partial indexes
over current runs, so an agent's or a team's summary reads results without joining interactions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CURRENT = {"sqlite_where": sa.text("is_current = 1"), "postgresql_where": sa.text("is_current")}


def upgrade() -> None:
    op.add_column("results", sa.Column("agent_id", sa.String(length=100), nullable=True))
    op.add_column("results", sa.Column("team_id", sa.String(length=100), nullable=True))
    op.add_column("results", sa.Column("occurred_date", sa.Date(), nullable=True))
    for column in ("agent_id", "team_id", "occurred_date"):
        op.execute(
            f"UPDATE results SET {column} = (SELECT i.{column} FROM interactions i WHERE i.id = results.interaction_id)"
        )
    op.create_index("ix_results_agent_day_current", "results", ["agent_id", "occurred_date"], **CURRENT)
    op.create_index("ix_results_team_day_current", "results", ["team_id", "occurred_date"], **CURRENT)
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("declared_version", sa.String(length=100), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("kind IN ('pack', 'scorecard')", name=op.f("ck_rule_versions_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("kind", "name", "version", name="uq_rule_versions_kind_name_version"),
    )
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("audio_file", sa.String(length=1000), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_ingest_jobs_status")
        ),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=op.f("fk_ingest_jobs_result_id_results"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
    )
    op.create_index(op.f("ix_ingest_jobs_interaction_id"), "ingest_jobs", ["interaction_id"], unique=False)


def downgrade() -> None:
    op.drop_table("ingest_jobs")
    op.drop_table("rule_versions")
    op.drop_index("ix_results_team_day_current", table_name="results")
    op.drop_index("ix_results_agent_day_current", table_name="results")
    for column in ("occurred_date", "team_id", "agent_id"):
        op.drop_column("results", column)  # SQLite >= 3.35 drops columns in place
