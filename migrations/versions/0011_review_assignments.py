"""Review assignment and sampling rules (抽检计划): interactions assigned to QA specialists, by hand or
by a rule that samples a share of each flag per agent and period.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sampling_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team_id", sa.String(length=100), nullable=True),
        sa.Column("rates", JSON, nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("period IN ('week', 'day')", name=op.f("ck_sampling_rules_period")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_sampling_rules_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_rules")),
    )
    op.create_index(op.f("ix_sampling_rules_team_id"), "sampling_rules", ["team_id"])
    op.create_table(
        "sampling_rule_assignees",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["sampling_rules.id"],
            name=op.f("fk_sampling_rule_assignees_rule_id_sampling_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["api_users.id"], name=op.f("fk_sampling_rule_assignees_user_id_api_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("rule_id", "user_id", name=op.f("pk_sampling_rule_assignees")),
    )
    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(length=200), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("source IN ('manual', 'sampling')", name=op.f("ck_review_assignments_source")),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_review_assignments_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["api_users.id"], name=op.f("fk_review_assignments_assignee_id_api_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["sampling_rules.id"], name=op.f("fk_review_assignments_rule_id_sampling_rules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_review_assignments_interaction_id")),
    )
    op.create_index("ix_review_assignments_assignee", "review_assignments", ["assignee_id", "assigned_at"])
    op.create_index(op.f("ix_review_assignments_rule_id"), "review_assignments", ["rule_id"])


def downgrade() -> None:
    op.drop_table("review_assignments")
    op.drop_table("sampling_rule_assignees")
    op.drop_table("sampling_rules")
