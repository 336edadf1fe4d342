"""A finished ingest job keeps no payload: empty `ingest_jobs.fields` of the jobs already done or
failed (the interactions, personal data included, as they were received). The application empties
it when it finishes a job from now on; nothing reads it after that.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:30:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE ingest_jobs SET fields = '{}' WHERE status IN ('done', 'failed')")


def downgrade() -> None:
    pass  # the payloads are gone; nothing needs them
