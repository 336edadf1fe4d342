"""Hit evidence: what each hit rests on, as data (Hit.evidence: phrase, pattern, model probability
and threshold, exemplar similarity, combined rules...). Null for hits stored before.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-05 21:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0008"  # the chain runs 0007, 0009, 0010, 0011, 0008
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("hits", sa.Column("evidence", JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("hits", "evidence")
