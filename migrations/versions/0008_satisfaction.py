"""Predicted customer satisfaction on each run (issue 14, point 5): the result's `satisfaction` field,
and its predicted score and dissatisfied probability as columns, so KPI summaries (average predicted
satisfaction, share predicted dissatisfied) and the search filters are SQL over the results table.
Runs stored before have none (null): they count in no satisfaction KPI until rescored.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("satisfaction", JSON, nullable=True))
        batch.add_column(sa.Column("satisfaction_predicted", sa.Float(), nullable=True))
        batch.add_column(sa.Column("satisfaction_dissatisfied", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("satisfaction_dissatisfied")
        batch.drop_column("satisfaction_predicted")
        batch.drop_column("satisfaction")
