"""Spreadsheet exports (security issue 13, points 5 and 6) through the real app on SQLite and
PostgreSQL: text a spreadsheet would run as a formula is written as text with a leading `'`, numbers
stay numbers, and a control character already stored does not break the XLSX file."""

from __future__ import annotations

import io
from urllib.parse import quote

from conftest_db import GREEN, RED
from openpyxl import load_workbook
from test_api import AGENT_TEAMS, Env, chat, clean, env, ingest  # noqa: F401 - fixtures used by name
from test_api_rules_audio_export import _csv_tables

from api import export
from qa_engine.schema import Interaction
from qa_engine.store import repository as repo

FORMULAS = ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "-1")  # as agent ids
TEAM = "+cmd|'calc'!A0"  # no '/' in it: it is a path segment


def _ingest_risky(env: Env) -> None:
    for i, agent in enumerate(FORMULAS):
        payload = chat(f"fx-{i}", GREEN if i % 2 else RED, agent=agent)
        payload["team_id"] = "T1"
        ingest(env, payload)
    team = chat("fx-team", GREEN, agent="A1")
    team["agent_id"], team["team_id"] = "fx-agent", TEAM
    ingest(env, team)


def _xlsx_cells(body: bytes) -> dict[str, list[list]]:
    book = load_workbook(io.BytesIO(body))
    return {sheet.title: [list(row) for row in sheet.iter_rows()] for sheet in book.worksheets}


def test_formula_like_text_is_exported_as_text_numbers_stay_numbers(env):
    _ingest_risky(env)
    csv_agents = {row[0] for row in _csv_tables(env.get("/v1/teams/T1/summary/export", "admin").content)["agents"][1:]}
    assert {"'" + agent for agent in FORMULAS} <= csv_agents
    assert not any(a.startswith(("=", "+", "-", "@", "\t", "\r")) for a in csv_agents)

    r = env.get("/v1/teams/T1/summary/export?format=xlsx", "admin")
    assert r.status_code == 200
    cells = _xlsx_cells(r.content)
    assert all(c.data_type != "f" for rows in cells.values() for row in rows for c in row)  # no formula anywhere
    agents = {row[0].value: row for row in cells["agents"][1:]}
    assert {"'" + agent for agent in FORMULAS} <= set(agents)
    row = agents['\'=HYPERLINK("http://x","y")']
    assert row[0].data_type == "s" and row[2].value == 1 and row[2].data_type == "n"  # interactions: a number
    summary = {row[0].value: row[1] for row in cells["summary"][1:]}
    assert summary["interactions"].data_type == "n" and summary["average score"].data_type == "n"

    team = quote(TEAM, safe="")
    tables = _csv_tables(env.get(f"/v1/teams/{team}/summary/export", "admin").content)
    assert dict(tables["summary"][1:])["team"] == "'" + TEAM
    team_cells = _xlsx_cells(env.get(f"/v1/teams/{team}/summary/export?format=xlsx", "admin").content)
    team_row = next(row for row in team_cells["summary"] if row[0].value == "team")
    assert team_row[1].value == "'" + TEAM and team_row[1].data_type == "s"
    agent = _csv_tables(env.get("/v1/agents/fx-agent/summary/export", "admin").content)
    assert dict(agent["summary"][1:])["team"] == "'" + TEAM


def test_the_cell_helper_escapes_text_only():
    assert export.cell("=1+1") == "'=1+1" and export.cell("\t=1") == "'\t=1" and export.cell("\r@x") == "'\r@x"
    assert export.cell("A1") == "A1" and export.cell("a=b") == "a=b"
    assert export.cell(-1.5) == -1.5 and export.cell(-3) == -3 and export.cell(None) is None
    assert export.cell("-1.5") == "'-1.5"  # text, whatever it looks like
    body = export.to_xlsx({"s": [["a", "b"], ["-x", -1.5]]})
    (_, row) = _xlsx_cells(body)["s"]
    assert (row[0].value, row[0].data_type) == ("'-x", "s") and (row[1].value, row[1].data_type) == (-1.5, "n")


def test_a_control_character_already_stored_does_not_break_the_xlsx_export(env):
    """Ids are refused with control characters at ingest; one stored before (or by hand) still exports."""
    valid = Interaction.model_validate(chat("ctl-1", GREEN, agent="A1"))
    result = env.client.app.state.scorer.inspector.inspect(valid)
    stored = valid.model_copy(update={"agent_id": "A\x07ctl\x1b"})  # no validation: as a row written by hand
    with env.db.session() as session:
        repo.save_result(session, stored, result.model_copy(update={"agent_id": "A\x07ctl\x1b"}), content_hash="h")
    r = env.get("/v1/teams/T1/summary/export?format=xlsx", "admin")
    assert r.status_code == 200
    agents = [row[0].value for row in _xlsx_cells(r.content)["agents"][1:]]
    assert "A\ufffdctl\ufffd" in agents
    csv_agents = [row[0] for row in _csv_tables(env.get("/v1/teams/T1/summary/export", "admin").content)["agents"][1:]]
    assert "A\ufffdctl\ufffd" in csv_agents  # the same cell in both formats

