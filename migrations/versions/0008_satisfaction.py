"""Predicted customer satisfaction on each run (issue 14, point 5): the result's `satisfaction` field,
and its predicted score and dissatisfied probability as columns, so KPI summaries (average predicted
satisfaction, share predicted dissatisfied) and the search filters are SQL over the results table.
Runs stored before have none (null): they count in no satisfaction KPI until rescored.

Numbered 0008 (reserved for it) but applied after 0011: 0009-0011 were merged first and revise 0007,
and a database already at 0011 must still get these columns.

Revision ID: 0008
Revises: 0011
Create Date: 2026-12-05 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("results", sa.Column("satisfaction", JSON, nullable=True))
    op.add_column("results", sa.Column("satisfaction_predicted", sa.Float(), nullable=True))
    op.add_column("results", sa.Column("satisfaction_dissatisfied", sa.Float(), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 too): a batch copy of the table would turn the
    # column-level CHECK of final_flag (0009) into a table CHECK that 0009's downgrade cannot drop
    for column in ("satisfaction_dissatisfied", "satisfaction_predicted", "satisfaction"):
        op.drop_column("results", column)
