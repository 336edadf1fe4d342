"""Storage on SQLite and PostgreSQL: migrations up and down, the write path, final scores, accounts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from importlib import resources as ilr

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest_db import CRITICAL, GREEN, RED, backends, fresh_database, interaction
from sqlalchemy import func, inspect, select, update
from sqlalchemy import text as sa_text
from sqlalchemy.exc import IntegrityError

from qa_engine.schema import Interaction
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database
from qa_engine.store.final_score import final_score
from qa_engine.store.models import ApiKey, AuditLog, Base, IngestJob, InteractionRow, ResultRow
from qa_engine.store.repository import content_hash, current_result, save_result, to_contract

TABLES = {
    "teams",
    "agents",
    "interactions",
    "turns",
    "results",
    "result_dimensions",
    "hits",
    "reviews",
    "review_hit_decisions",
    "review_dimension_overrides",
    "appeals",
    "audit_log",
    "api_users",
    "user_teams",
    "api_keys",
    "rule_versions",
    "ingest_jobs",
    "batch_items",
    "server_secrets",
    "alert_webhooks",
    "alert_deliveries",
    "sampling_rules",
    "sampling_rule_assignees",
    "review_assignments",
}


@pytest.fixture(scope="module", params=backends())
def empty_url(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture(scope="module")
def db(empty_url):
    migrate.upgrade(empty_url)
    database = Database(empty_url)
    yield database
    database.dispose()


def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        return set(inspect(database.engine).get_table_names())
    finally:
        database.dispose()


def test_migrations_up_down_up(tmp_path_factory):
    for backend in backends():
        with fresh_database(backend, tmp_path_factory.mktemp(f"mig-{backend}")) as url:
            migrate.upgrade(url)
            assert _tables(url) == TABLES | {"alembic_version"}
            assert migrate.current(url) == migrate.head()
            database = Database(url)
            try:
                with database.engine.connect() as conn:  # the migration creates exactly the models
                    assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            finally:
                database.dispose()
            migrate.downgrade(url, "base")
            assert _tables(url) == {"alembic_version"}
            assert migrate.current(url) is None
            migrate.upgrade(url)
            assert _tables(url) >= TABLES


def _examples() -> list[Interaction]:
    path = ilr.files("qa_datasets") / "examples" / "interactions.jsonl"
    return [Interaction.model_validate_json(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_stored_result_reads_back_identical(db, inspector):
    """Every bundled example: the stored run rebuilds the very Result the engine produced."""
    with db.session() as session:
        for item in _examples():
            result = inspector.inspect(item)
            save_result(session, item, result, content_hash=content_hash(item))
            session.flush()
            session.expire_all()
            row = session.get(InteractionRow, item.interaction_id)
            stored = to_contract(current_result(session, item.interaction_id), row)
            assert stored.model_dump(mode="json") == json.loads(result.model_dump_json())


def test_one_current_result_per_interaction(db, inspector):
    item = interaction("store-current", *GREEN, agent_id="S1", team_id="ST1")
    with db.session() as session:
        first = save_result(session, item, inspector.inspect(item), content_hash=content_hash(item))
        second = save_result(session, item, inspector.inspect(item), content_hash=content_hash(item))
        rows = session.scalars(select(ResultRow).where(ResultRow.interaction_id == item.interaction_id)).all()
        assert [r.is_current for r in rows] == [False, True]
        assert (first.id, second.id) == (rows[0].id, rows[1].id)
    with pytest.raises(IntegrityError):  # the database itself refuses a second current result
        with db.session() as session:
            session.execute(update(ResultRow).where(ResultRow.id == first.id).values(is_current=True))


def test_changed_content_replaces_turns_and_keeps_old_results(db, inspector):
    a = interaction("store-change", *GREEN, agent_id="S1")
    b = interaction("store-change", *RED, agent_id="S1")
    with db.session() as session:
        save_result(session, a, inspector.inspect(a), content_hash=content_hash(a))
        save_result(session, b, inspector.inspect(b), content_hash=content_hash(b))
    with db.session() as session:
        row = session.get(InteractionRow, "store-change")
        assert [t.text for t in row.turns] == [t for _, t in RED]
        assert row.content_hash == content_hash(b)
        hashes = session.scalars(
            select(ResultRow.content_hash).where(ResultRow.interaction_id == row.id).order_by(ResultRow.id)
        )
        assert list(hashes) == [content_hash(a), content_hash(b)]


def test_occurred_date_is_local(db, inspector):
    item = interaction("store-tz", *GREEN, started_at="2026-11-22T23:30:00+00:00")
    naive = interaction("store-tz-naive", *GREEN, started_at="2026-11-22T23:30:00")
    with db.session() as session:
        save_result(session, item, inspector.inspect(item), content_hash=content_hash(item))
        save_result(session, naive, inspector.inspect(naive), content_hash=content_hash(naive))
    with db.session() as session:
        row = session.get(InteractionRow, "store-tz")
        assert row.started_at == datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
        assert row.occurred_date.isoformat() == "2026-11-23"  # Asia/Shanghai
        assert session.get(InteractionRow, "store-tz-naive").occurred_date.isoformat() == "2026-11-22"


def test_final_score_without_changes_reproduces_the_engine(inspector):
    for item in _examples() + [interaction("c", *CRITICAL), interaction("r", *RED)]:
        result = inspector.inspect(item)
        final = final_score(
            result,
            dismissed=set(),
            overrides={},
            turn_roles=[t.role for t in item.turns],
            card=inspector.scorecards[item.channel],
            rule_dimensions=inspector.rule_dimensions,
        )
        assert final.rescored
        assert (final.score, final.flag) == (result.score, result.flag)
        assert final.dimensions == {d: s.score for d, s in result.dimensions.items()}


def test_dismissing_a_critical_hit_lifts_the_veto(inspector):
    item = interaction("c", *CRITICAL)
    result = inspector.inspect(item)
    assert result.score == 0 and result.critical
    critical = {i for i, h in enumerate(result.hits) if h.rule_id in result.critical}
    kwargs = dict(turn_roles=[t.role for t in item.turns], overrides={})
    rescored = final_score(
        result,
        dismissed=critical,
        card=inspector.scorecards["chat"],
        rule_dimensions=inspector.rule_dimensions,
        **kwargs,
    )
    fallback = final_score(result, dismissed=critical, **kwargs)  # no scorecard: stored dimensions kept
    assert rescored.critical == [] and rescored.score > 0
    assert fallback.critical == [] and not fallback.rescored and fallback.score > 0
    overridden = final_score(result, dismissed=critical, **{**kwargs, "overrides": {"forbidden_words": 100}})
    assert overridden.dimensions["forbidden_words"] == 100 and overridden.score >= fallback.score


def test_passwords_and_keys_are_stored_hashed(db):
    with db.session() as session:
        user = accounts.create_user(session, "store-user", "qa_specialist", password="correct horse battery")
        row, key = accounts.create_api_key(session, user, "k")
    with db.session() as session:
        assert user.password_hash.startswith("$argon2id$") and "correct horse" not in user.password_hash
        stored = session.get(ApiKey, row.id)
        assert key not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
        assert accounts.authenticate(session, "store-user", "correct horse battery").id == user.id
        assert accounts.authenticate(session, "store-user", "wrong password") is None
        assert accounts.authenticate(session, "nobody", "correct horse battery") is None
        assert accounts.user_for_api_key(session, key).id == user.id
        accounts.revoke_api_key(session, row.id)
        assert accounts.user_for_api_key(session, key) is None
        actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == "store-user")).all()
        assert {"user.create", "api_key.create", "api_key.revoke"} <= set(actions)
    with pytest.raises(accounts.AccountError):
        with db.session() as session:
            accounts.create_user(session, "a-without-agent", "agent", password="long enough pw")
    for bad in ("Úl", "two words", "x" * 101):  # the CLI's path checks what the API's schema checks
        with pytest.raises(accounts.AccountError, match="username"):
            with db.session() as session:
                accounts.create_user(session, bad, "ingest")


def test_cascade_delete_removes_everything(db, inspector):
    item = interaction("store-delete", *RED, agent_id="S9")
    with db.session() as session:
        save_result(session, item, inspector.inspect(item), content_hash=content_hash(item))
    with db.session() as session:
        session.delete(session.get(InteractionRow, "store-delete"))
    with db.session() as session:
        left = session.scalar(
            select(func.count()).select_from(ResultRow).where(ResultRow.interaction_id == "store-delete")
        )
        assert left == 0


def test_cli_db_and_users(tmp_path):
    import click
    from click.testing import CliRunner

    from qa_engine.store.cli import db_group, users_group

    cli = click.Group(commands={"db": db_group, "users": users_group})
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    assert run(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    assert run(cli, ["db", "current", "--url", url]).output.strip() == migrate.head()
    made = run(
        cli, ["users", "create", "boss", "--role", "admin", "--password-stdin", "--url", url], input="pw-long-enough\n"
    )
    assert made.exit_code == 0, made.output
    assert run(cli, ["users", "create", "boss", "--role", "admin", "--url", url]).exit_code != 0
    assert run(cli, ["users", "create", "crm", "--role", "ingest", "--url", url]).exit_code == 0
    key = run(cli, ["users", "api-key", "crm", "--name", "sync", "--url", url]).output.strip()
    db = Database(url)
    try:
        with db.session() as session:
            assert accounts.user_for_api_key(session, key).username == "crm"
            assert accounts.authenticate(session, "boss", "pw-long-enough").role == "admin"
    finally:
        db.dispose()
    assert run(cli, ["db", "downgrade", "--revision", "base", "--url", url]).exit_code == 0
    assert _tables(url) == {"alembic_version"}


def test_migration_0002_backfills_kpi_keys_on_results(tmp_path_factory):
    """Results stored before 0002 get their interaction's agent, team and date copied on upgrade."""
    for backend in backends():
        with fresh_database(backend, tmp_path_factory.mktemp(f"fill-{backend}")) as url:
            migrate.upgrade(url, "0001")
            database = Database(url)
            try:
                now = datetime.now(UTC)
                with database.engine.begin() as conn:
                    conn.execute(sa_text("INSERT INTO teams (id, created_at) VALUES ('T9', :now)"), {"now": now})
                    conn.execute(
                        sa_text("INSERT INTO agents (id, team_id, created_at) VALUES ('A9', 'T9', :now)"), {"now": now}
                    )
                    conn.execute(
                        sa_text(
                            "INSERT INTO interactions (id, channel, agent_id, team_id, received_at, occurred_at, "
                            "occurred_date, metadata, extra, content_hash, updated_at) VALUES ('old-1', 'chat', "
                            "'A9', 'T9', :now, :now, :day, '{}', '{}', 'h', :now)"
                        ),
                        {"now": now, "day": date(2026, 11, 20)},
                    )
                    conn.execute(
                        sa_text(
                            "INSERT INTO results (interaction_id, is_current, content_hash, created_at, score, flag, "
                            "critical, script, emotion, stats, versions, agent_turns, polite_turns, empathy_turns, "
                            "forbidden_hits, script_ok) VALUES ('old-1', :t, 'h', :now, 90, 'green', '[]', '{}', "
                            "'{}', '{}', '{}', 1, 1, 0, 0, :t)"
                        ),
                        {"now": now, "t": True},
                    )
                migrate.upgrade(url)
                with database.session() as session:
                    res = session.scalars(select(ResultRow)).one()
                    assert (res.agent_id, res.team_id, res.occurred_date) == ("A9", "T9", date(2026, 11, 20))
            finally:
                database.dispose()


def test_migration_0006_empties_the_payload_of_finished_jobs(tmp_path_factory):
    """Jobs finished before 0006 kept the interaction as received; a queued one still needs it."""
    payload = {"interaction_id": "j", "channel": "chat", "metadata": {"phone": "13812345678"}}
    for backend in backends():
        with fresh_database(backend, tmp_path_factory.mktemp(f"jobs-{backend}")) as url:
            migrate.upgrade(url, "0005")
            database = Database(url)
            try:
                with database.session() as session:
                    session.add_all(
                        IngestJob(id=status, kind="interaction", interaction_id="j", status=status, content_hash="h",
                                  fields=payload, created_by="ingest")  # fmt: skip
                        for status in ("queued", "running", "done", "failed")
                    )
                migrate.upgrade(url)
                with database.session() as session:
                    fields = {job.id: job.fields for job in session.scalars(select(IngestJob))}
                assert fields == {"queued": payload, "running": payload, "done": {}, "failed": {}}
            finally:
                database.dispose()


def test_migration_0009_carries_existing_reviews_into_the_final_columns(tmp_path_factory, inspector):
    """A database reviewed before 0009 gets the final figures the application writes with a review:
    the same data, written by the app, then taken down to 0007 and up again."""
    from qa_engine.store.models import DimensionRow
    from qa_engine.store.reviews import HitDecisionIn, OverrideIn, Reviewer, add_review

    columns = ("has_critical", "final_score", "final_flag", "final_critical", "final_script_ok", "final_forbidden_hits")

    def snapshot(database) -> dict:
        with database.session() as session:
            results = {r.interaction_id: tuple(getattr(r, c) for c in columns) for r in session.scalars(select(ResultRow))}
            dims = {(d.result_id, d.dimension): d.final_score for d in session.scalars(select(DimensionRow))}
            return {"results": results, "dims": dims}

    for backend in backends():
        with fresh_database(backend, tmp_path_factory.mktemp(f"mig9-{backend}")) as url:
            migrate.upgrade(url)
            database = Database(url)
            try:
                with database.session() as session:
                    stored = {}
                    for iid, turns in (("m9-crit", CRITICAL), ("m9-red", RED), ("m9-green", GREEN)):
                        item = interaction(iid, *turns, agent_id="S1", team_id="ST1")
                        stored[iid] = (None, save_result(session, item, inspector.inspect(item),
                                                         content_hash=content_hash(item)))
                    session.flush()
                    who = Reviewer(None, "qa")
                    crit = stored["m9-crit"][1]
                    insult = next(h for h in crit.hits if h.rule_id == "forbidden.mock_insult")
                    add_review(session, session.get(InteractionRow, "m9-crit"), crit, who,
                               hits=[HitDecisionIn(insult.id, "dismiss")])
                    red = stored["m9-red"][1]
                    deflect = next(h for h in red.hits if h.rule_id == "forbidden.deflect")
                    add_review(session, session.get(InteractionRow, "m9-red"), red, who,
                               hits=[HitDecisionIn(deflect.id, "dismiss")])
                    add_review(session, session.get(InteractionRow, "m9-red"), red, who,  # a later review
                               hits=[HitDecisionIn(deflect.id, "confirm")],
                               overrides=[OverrideIn("script_compliance", 100, "开场白有")])
                    session.commit()
                written = snapshot(database)
                crit_row, red_row = written["results"]["m9-crit"], written["results"]["m9-red"]
                # the insult dismissed: no 一票否决 left, the impatience phrase still counts
                assert crit_row[0] is True and crit_row[1] > 0 and crit_row[3:] == (False, True, 1)
                # deflect confirmed again (both forbidden phrases count); script set to 100 by hand
                assert red_row[0] is False and red_row[3:] == (False, True, 2)
                assert written["results"]["m9-green"] == (False, None, None, None, None, None)
                assert sum(v is not None for v in written["dims"].values()) == 12  # two reviewed runs x 6
            finally:
                database.dispose()
            migrate.downgrade(url, "0007")
            migrate.upgrade(url)
            database = Database(url)
            try:
                assert snapshot(database) == written
            finally:
                database.dispose()
