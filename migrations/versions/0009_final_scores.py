"""Final scores where KPIs read them: each run's score, flag, critical (一票否决), script and
forbidden-phrase figures after review (`results.final_*`, `result_dimensions.final_score`; null
before any review), whether the automatic run has a critical hit (`results.has_critical`), and the
appeals inbox's index (open appeals, oldest first).

Existing reviews are carried over: the latest review of each run gives its final score, flag and
dimension scores; the hit decisions (latest per hit) give which critical rules and forbidden phrases
remain.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-05 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = {"sqlite_where": sa.text("is_current = 1"), "postgresql_where": sa.text("is_current")}
FLAGS = "final_flag IN ('green', 'yellow', 'red')"


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: SQLite's batch copies `results` and drops the old table, and
    # with foreign keys on that drop cascades to its dimensions, hits, reviews and appeals.
    op.add_column("results", sa.Column("has_critical", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("results", sa.Column("final_score", sa.Float(), nullable=True))
    op.add_column(
        "results",
        sa.Column("final_flag", sa.String(length=10), sa.CheckConstraint(FLAGS, name="ck_results_final_flag")),
    )
    op.add_column("results", sa.Column("final_critical", sa.Boolean(), nullable=True))
    op.add_column("results", sa.Column("final_script_ok", sa.Boolean(), nullable=True))
    op.add_column("results", sa.Column("final_forbidden_hits", sa.Integer(), nullable=True))
    op.add_column("result_dimensions", sa.Column("final_score", sa.Float(), nullable=True))
    op.drop_index("ix_results_team_day_current", table_name="results")
    op.create_index(
        "ix_results_team_day_current",
        "results",
        ["team_id", "occurred_date", "agent_id", "score", "flag", "final_score", "final_flag", "has_critical",
         "final_critical", "is_current"],  # fmt: skip
        postgresql_include=["id"],
        **CURRENT,
    )
    op.create_index("ix_appeals_status_created", "appeals", ["status", "created_at"])
    _backfill()
    for table in ("results", "result_dimensions", "appeals"):  # the planner needs statistics for the new
        op.execute(f"ANALYZE {table}")  # indexes; these tables only (a bare ANALYZE reads every schema)


def _backfill() -> None:
    conn = op.get_bind()
    length = "jsonb_array_length" if conn.dialect.name == "postgresql" else "json_array_length"
    op.execute(f"UPDATE results SET has_critical = ({length}(critical) > 0)")
    results = sa.table(
        "results",
        sa.column("id", sa.Integer),
        sa.column("critical", sa.JSON),
        sa.column("final_score", sa.Float),
        sa.column("final_flag", sa.String),
        sa.column("final_critical", sa.Boolean),
        sa.column("final_script_ok", sa.Boolean),
        sa.column("final_forbidden_hits", sa.Integer),
    )
    dims = sa.table(
        "result_dimensions", sa.column("result_id", sa.Integer), sa.column("dimension", sa.String),
        sa.column("final_score", sa.Float),
    )  # fmt: skip
    reviews = sa.table(
        "reviews", sa.column("id", sa.Integer), sa.column("result_id", sa.Integer), sa.column("final_score", sa.Float),
        sa.column("final_flag", sa.String), sa.column("final_dimensions", sa.JSON),
    )  # fmt: skip
    decisions = sa.table(
        "review_hit_decisions", sa.column("id", sa.Integer), sa.column("review_id", sa.Integer),
        sa.column("hit_id", sa.Integer), sa.column("decision", sa.String),
    )  # fmt: skip
    hits = sa.table(
        "hits", sa.column("id", sa.Integer), sa.column("result_id", sa.Integer), sa.column("rule_id", sa.String),
        sa.column("dimension", sa.String),
    )  # fmt: skip
    latest = sa.select(sa.func.max(reviews.c.id)).group_by(reviews.c.result_id)
    for review in conn.execute(sa.select(reviews).where(reviews.c.id.in_(latest))).all():
        last: dict[int, str] = {}
        for hit_id, decision in conn.execute(
            sa.select(decisions.c.hit_id, decisions.c.decision)
            .join(reviews, reviews.c.id == decisions.c.review_id)
            .where(reviews.c.result_id == review.result_id)
            .order_by(decisions.c.review_id, decisions.c.id)
        ).all():
            last[hit_id] = decision  # the latest decision per hit wins
        dismissed = {h for h, d in last.items() if d == "dismiss"}
        kept = [h for h in conn.execute(sa.select(hits).where(hits.c.result_id == review.result_id)).all()
                if h.id not in dismissed]  # fmt: skip
        critical = conn.execute(sa.select(results.c.critical).where(results.c.id == review.result_id)).scalar() or []
        final_dims = dict(review.final_dimensions or {})
        conn.execute(
            results.update()
            .where(results.c.id == review.result_id)
            .values(
                final_score=review.final_score,
                final_flag=review.final_flag,
                final_critical=any(h.rule_id in critical for h in kept),
                final_script_ok=final_dims.get("script_compliance", 100) >= 100,
                final_forbidden_hits=sum(1 for h in kept if h.dimension == "forbidden_words"),
            )
        )
        for name, score in final_dims.items():
            conn.execute(
                dims.update()
                .where(dims.c.result_id == review.result_id, dims.c.dimension == name)
                .values(final_score=score)
            )


def downgrade() -> None:
    op.drop_index("ix_appeals_status_created", table_name="appeals")
    op.drop_index("ix_results_team_day_current", table_name="results")
    op.create_index(
        "ix_results_team_day_current",
        "results",
        ["team_id", "occurred_date", "agent_id", "score", "flag", "is_current"],
        postgresql_include=["id"],
        **CURRENT,
    )
    op.drop_column("result_dimensions", "final_score")
    if op.get_bind().dialect.name != "sqlite":  # SQLite drops the column's own CHECK with it
        op.drop_constraint("ck_results_final_flag", "results", type_="check")
    for column in ("final_forbidden_hits", "final_script_ok", "final_critical", "final_flag", "final_score",
                   "has_critical"):  # fmt: skip
        op.drop_column("results", column)
