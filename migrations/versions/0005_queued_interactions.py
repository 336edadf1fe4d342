"""Queued interactions: `ingest_jobs` also holds interactions sent with turns to be scored in the
background (`POST /v1/interactions?wait=false`, `POST /v1/interactions/bulk`).

A job gets a kind (`audio`, the uploads so far, or `interaction`), the bulk request it came in
(`batch_id`), the claim of the scorer working on it (`claimed_by`), and an index the scorer's
"oldest queued first" reads. `audio_file` becomes optional (interaction jobs have none).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot change a column's nullability or add a check constraint in place
    with op.batch_alter_table("ingest_jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False, server_default="audio"))
        batch.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
        batch.alter_column("audio_file", existing_type=sa.String(length=1000), nullable=True)
        batch.create_check_constraint("kind", "kind IN ('audio', 'interaction')")
        batch.create_index("ix_ingest_jobs_kind_status_created", ["kind", "status", "created_at"])
        batch.create_index(batch.f("ix_ingest_jobs_batch_id"), ["batch_id"])


def downgrade() -> None:
    op.execute("DELETE FROM ingest_jobs WHERE kind <> 'audio'")  # no audio file: cannot exist before 0005
    with op.batch_alter_table("ingest_jobs") as batch:
        batch.drop_index("ix_ingest_jobs_batch_id")
        batch.drop_index("ix_ingest_jobs_kind_status_created")
        batch.drop_constraint(op.f("ck_ingest_jobs_kind"), type_="check")
        batch.alter_column("audio_file", existing_type=sa.String(length=1000), nullable=False)
        batch.drop_column("claimed_by")
        batch.drop_column("batch_id")
        batch.drop_column("kind")
