"""Covering indexes for KPI summaries: a team's current runs by day with agent, score and flag, and
dimension scores by result, so rank, breakdown and dimension averages read indexes only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = {"sqlite_where": sa.text("is_current = 1"), "postgresql_where": sa.text("is_current")}


def upgrade() -> None:
    op.drop_index("ix_results_team_day_current", table_name="results")
    op.create_index(
        "ix_results_team_day_current",
        "results",
        ["team_id", "occurred_date", "agent_id", "score", "flag", "is_current"],  # SQLite covers only with it
        postgresql_include=["id"],
        **CURRENT,
    )
    op.create_index("ix_result_dimensions_result_score", "result_dimensions", ["result_id", "dimension", "score"])
    op.execute("ANALYZE")  # planners pick the new indexes only with statistics


def downgrade() -> None:
    op.drop_index("ix_result_dimensions_result_score", table_name="result_dimensions")
    op.drop_index("ix_results_team_day_current", table_name="results")
    op.create_index("ix_results_team_day_current", "results", ["team_id", "occurred_date"], **CURRENT)
