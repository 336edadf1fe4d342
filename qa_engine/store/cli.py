"""Click commands for the database and accounts; `qa_engine.cli` mounts them:

qa-engine db upgrade|downgrade|current
qa-engine users create USERNAME --role ROLE [--agent-id A] [--team T ...] [--password-stdin]
qa-engine users api-key USERNAME --name NAME      # prints the key once
qa-engine users deactivate|activate USERNAME      # tokens and API keys stop (work again) at once
qa-engine alerts send [--loop]                    # send due alert webhooks (hosts without the API)
qa-engine sample --since yesterday [--until D] [--rule ID ...]  # run the sampling rules (nightly)
qa-engine serve [--host H] [--port P] [--no-migrate]
"""

from __future__ import annotations

import sys

import click

from qa_engine.store.models import ROLES


def _url(url: str | None) -> str:
    from qa_engine.config import get_settings
    from qa_engine.store.db import database_url

    return url or database_url(get_settings())


url_option = click.option("--url", help="database URL (default: QA_DATABASE_URL, else qa_engine.db in the data folder)")


def _database(url: str | None):
    """The database, its schema created or brought up to date first (a new data folder works at once)."""
    from qa_engine.store import migrate
    from qa_engine.store.db import Database

    url = _url(url)
    try:
        migrate.upgrade(url)
    except Exception as exc:  # noqa: BLE001 - database unreachable or unusable: one line, not a traceback
        _database_failed(exc)
    return Database(url)


def _database_failed(exc: Exception) -> None:
    """A database error as one line (exit 1); anything else is a bug and goes on as a traceback."""
    if exc.__class__.__module__.split(".")[0] not in ("sqlalchemy", "psycopg", "sqlite3", "alembic"):
        raise exc
    first = str(exc).splitlines()[0] if str(exc) else ""
    click.echo(f"qa-engine: error: {exc.__class__.__name__}: {first}", err=True)
    sys.exit(1)


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@url_option
@click.option("--revision", default="head", show_default=True)
def db_upgrade(url: str | None, revision: str) -> None:
    """Create or upgrade the schema."""
    from qa_engine.store import migrate

    url = _url(url)
    migrate.upgrade(url, revision)
    click.echo(f"database at revision {migrate.current(url)}")


@db_group.command("downgrade")
@url_option
@click.option("--revision", required=True, help="target revision; 'base' drops everything")
def db_downgrade(url: str | None, revision: str) -> None:
    """Downgrade the schema (base: drop every table)."""
    from qa_engine.store import migrate

    migrate.downgrade(_url(url), revision)


@db_group.command("current")
@url_option
def db_current(url: str | None) -> None:
    """Print the schema revision (empty when not migrated)."""
    from qa_engine.store import migrate

    click.echo(migrate.current(_url(url)) or "")


@click.group("users")
def users_group() -> None:
    """API users and keys."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--agent-id", help="for role agent: the agent_id in interactions")
@click.option("--team", "teams", multiple=True, help="for role supervisor: a team they see (repeat)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin (else: prompt; none for ingest)")
@url_option
def users_create(
    username: str, role: str, agent_id: str | None, teams: tuple[str, ...], password_stdin: bool, url: str | None
) -> None:
    """Create a user (people log in with the password; machines use API keys)."""
    from qa_engine.store import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif role == "ingest":
        password = None
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    db = _database(url)
    try:
        with db.session() as session:
            accounts.create_user(session, username, role, password=password, agent_id=agent_id, team_ids=teams, actor="cli")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"created {role} {username}")


@users_group.command("api-key")
@click.argument("username")
@click.option("--name", required=True, help="what the key is for")
@url_option
def users_api_key(username: str, name: str, url: str | None) -> None:
    """Create an API key for USERNAME and print it (it is not stored and cannot be shown again)."""
    from qa_engine.store import accounts

    db = _database(url)
    try:
        with db.session() as session:
            user = accounts.get_user(session, username)
            if user is None:
                raise click.ClickException(f"no user {username!r}")
            _, key = accounts.create_api_key(session, user, name, actor="cli")
    finally:
        db.dispose()
    click.echo(key)


def _set_active(username: str, active: bool, url: str | None) -> None:
    from qa_engine.store import accounts

    db = _database(url)
    try:
        with db.session() as session:
            accounts.set_active(session, username, active, actor="cli")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"{'activated' if active else 'deactivated'} {username}")


@users_group.command("deactivate")
@click.argument("username")
@url_option
def users_deactivate(username: str, url: str | None) -> None:
    """Deactivate USERNAME: no login, and their tokens and API keys are refused from now on."""
    _set_active(username, False, url)


@users_group.command("activate")
@click.argument("username")
@url_option
def users_activate(username: str, url: str | None) -> None:
    """Activate USERNAME again (their unexpired tokens and unrevoked API keys work again)."""
    _set_active(username, True, url)


@click.group("alerts")
def alerts_group() -> None:
    """Alert webhooks (configured through the API: POST /v1/alert-webhooks)."""


@alerts_group.command("send")
@click.option("--loop", is_flag=True, help="keep sending every QA_ALERT_POLL_SECONDS until stopped")
@url_option
def alerts_send(loop: bool, url: str | None) -> None:
    """Send the alerts that are due (an API process does this itself unless QA_ALERT_POLL_SECONDS=0)."""
    import time

    from qa_engine.config import get_settings
    from qa_engine.store.alerts import SendPolicy, send_due
    from qa_engine.store.db import Database

    settings = get_settings()
    policy = SendPolicy.from_settings(settings)
    db = Database(_url(url))
    try:
        while True:
            counts = send_due(db, policy)
            if not loop:
                click.echo(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
                return
            time.sleep(settings.alert_poll_seconds or 2.0)
    finally:
        db.dispose()


@click.command("sample")
@click.option(
    "--since",
    default="yesterday",
    show_default=True,
    help="first local date (YYYY-MM-DD, today, yesterday); its whole week (or day) is sampled",
)
@click.option("--until", default="today", show_default=True, help="last local date")
@click.option(
    "--rule",
    "rule_ids",
    type=click.IntRange(min=1),
    multiple=True,
    help="only this sampling rule (repeatable); default: every active rule",
)
@url_option
def sample(since: str, until: str, rule_ids: tuple[int, ...], url: str | None) -> None:
    """Run the sampling rules (抽检计划) over --since..--until and print what each assigned, one line
    per assignment. Deterministic and idempotent: a rerun over the same days assigns nothing twice,
    so a nightly `qa-engine sample --since yesterday` tops up each week as it fills. Exit code 1 when
    a rule could not run (e.g. none of its QA specialists is active), 2 for bad options."""
    from qa_engine.batch.cli import _day
    from qa_engine.config import get_settings
    from qa_engine.store import assignments as asg

    tz = get_settings().report_timezone
    try:
        start, end = _day(since, tz), _day(until, tz)
        assert start is not None and end is not None  # both options have defaults
        asg.check_range(start, end)
    except (click.BadParameter, asg.AssignmentError) as exc:
        click.echo(f"qa-engine: error: {exc.message if isinstance(exc, click.BadParameter) else exc}", err=True)
        sys.exit(2)
    try:
        failed = _sample(_url(url), start, end, rule_ids)
    except Exception as exc:  # noqa: BLE001 - database down or not migrated: one line, not a traceback
        if exc.__class__.__module__.split(".")[0] not in ("sqlalchemy", "psycopg", "sqlite3"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"qa-engine: error: {exc.__class__.__name__}: {first} (qa-engine db upgrade first?)", err=True)
        sys.exit(1)
    sys.exit(1 if failed else 0)


def _sample(url: str, start, end, rule_ids: tuple[int, ...]) -> int:
    """Run the rules; print what each assigned; the number of rules that could not run."""
    from qa_engine.store import assignments as asg
    from qa_engine.store.db import Database

    db = Database(url)
    failed = 0
    try:
        with db.session() as session:
            rules = asg.active_rules(session, list(rule_ids))
            missing = sorted(set(rule_ids) - {r.id for r in rules})
            if missing:
                click.echo(f"qa-engine: error: no active sampling rule {', '.join(map(str, missing))}", err=True)
                sys.exit(2)
            if not rules:
                click.echo("no active sampling rules")
            for rule in rules:
                try:
                    run = asg.run_rule(session, rule, start, end, actor="qa-engine sample")
                except asg.AssignmentError as exc:
                    session.rollback()
                    failed += 1
                    click.echo(f"qa-engine: error: rule {rule.id} ({rule.name}): {exc}", err=True)
                    continue
                session.commit()
                click.echo(f"rule {rule.id} ({rule.name}, {rule.team_id or 'every team'}) {start}..{end}: "
                           f"{len(run.assigned)} assigned")  # fmt: skip
                for a in run.assigned:
                    b = run.bucket_of[a.interaction_id]
                    click.echo(f"  {a.interaction_id} -> {a.assignee.username} ({b.flag}, agent {b.agent_id or '-'}, "
                               f"{rule.period} of {b.period_start})")  # fmt: skip
    finally:
        db.dispose()
    return failed


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="apply migrations first")
def serve(host: str, port: int, workers: int, migrate: bool) -> None:
    """Run the HTTP API (uvicorn) and the review UI; prints their addresses."""
    import uvicorn

    url = _url(None)
    if migrate:
        from qa_engine.store import migrate as migrations

        migrations.upgrade(url)
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
    from sqlalchemy.engine import make_url

    database = make_url(url).render_as_string(hide_password=True)
    click.echo(f"qa-engine: review UI at http://{shown}:{port}/ui/ (API documentation: /docs); database {database}", err=True)
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers)
