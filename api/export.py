"""KPI summaries as files: CSV (UTF-8 with BOM, so Excel shows Chinese) and XLSX (one sheet per table).

Every cell goes through `cell`: ids and other text come from whoever sent the interactions, and a
spreadsheet runs text that starts like a formula (formula injection), while XLSX cannot hold
control characters (openpyxl refuses them).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from functools import cache
from typing import Any

from fastapi import Response

from api.schemas import AgentSummary, KpiOut, TeamSummary

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}

# (label, field) of the headline KPIs, in the order a supervisor reads them.
KPI_ROWS = (
    ("interactions", "interactions"),
    ("average score", "average_score"),
    ("pass rate", "pass_rate"),
    ("red", None),
    ("yellow", None),
    ("green", None),
    ("礼貌用语使用率 politeness rate", "politeness_rate"),
    ("禁语 per 100 interactions", "forbidden_per_100"),
    ("empathy rate", "empathy_rate"),
    ("script compliance rate", "script_compliance_rate"),
    ("情绪安抚有效率 de-escalation rate", "deescalation_rate"),
    ("customer negative at start", "customer_negative_start"),
    ("average silence (s)", "average_silence_s"),
    ("average interruptions", "average_interruptions"),
    ("predicted customer satisfaction (-2..2)", "average_satisfaction"),
    ("predicted dissatisfied share", "dissatisfied_share"),
)


def tables(s: KpiOut) -> dict[str, list[list[Any]]]:
    """Sheet name -> rows (the first row is the header)."""
    head: list[list[Any]] = [["metric", "value"]]
    if isinstance(s, AgentSummary):
        head += [["agent", s.agent_id], ["team", s.team_id], ["rank in team", s.rank], ["rank note", s.rank_note]]
        head += [["team agents", s.team_agents], ["ranking needs interactions", s.rank_min_interactions]]
        head += [["warning", s.warning.level], ["warning reason", s.warning.reason]]
    elif isinstance(s, TeamSummary):
        head += [["team", s.team_id], ["ranking needs interactions", s.rank_min_interactions]]
    head += [["start", s.start], ["end", s.end]]
    for label, field in KPI_ROWS:
        head.append([label, getattr(s.flags, label) if field is None else getattr(s, field)])
    head += [["critical (一票否决)", s.critical], ["reviewed (final score)", s.reviewed]]
    head += [[f"dimension {name}", avg] for name, avg in s.dimensions.items()]
    auto = s.automatic
    head += [["automatic average score", auto.average_score], ["automatic pass rate", auto.pass_rate]]
    head += [[f"automatic {flag}", getattr(auto.flags, flag)] for flag in ("red", "yellow", "green")]
    out: dict[str, list[list[Any]]] = {
        "summary": head,
        "daily": [["date", "interactions", "average_score", "red", "yellow", "green", "critical", "reviewed",
                   "automatic_average_score"]]
        + [[d.date, d.interactions, d.average_score, d.red, d.yellow, d.green, d.critical, d.reviewed,
            d.automatic_average_score] for d in s.daily],
    }  # fmt: skip
    if isinstance(s, TeamSummary):
        out["agents"] = [["agent", "rank", "interactions", "average_score", "pass_rate", "red", "yellow", "green",
                          "warning", "critical", "reviewed", "automatic_average_score", "rank_note",
                          "average_satisfaction", "dissatisfied_share"]] + [
            [
                a.agent_id,
                a.rank,
                a.interactions,
                a.average_score,
                a.pass_rate,
                a.flags.red,
                a.flags.yellow,
                a.flags.green,
                a.warning.level if a.warning else None,
                a.critical,
                a.reviewed,
                a.automatic.average_score,
                a.rank_note,
                a.average_satisfaction,
                a.dissatisfied_share,
            ]
            for a in s.agents
        ]  # fmt: skip
        out["warnings"] = [["agent", "level", "reason", "days"]] + [
            [w.agent_id, w.level, w.reason, " ".join(d.isoformat() for d in w.days)] for w in s.warnings
        ]
    return out


# What spreadsheets read as the start of a formula (tab and CR: some strip them, then see one).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@cache
def _illegal_characters() -> re.Pattern:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # openpyxl loads on the first export only

    return ILLEGAL_CHARACTERS_RE


def cell(value: Any) -> Any:
    """A value as written to a CSV or XLSX cell: dates as ISO text; text with the characters XLSX
    cannot hold replaced by U+FFFD and, when it starts like a formula, prefixed with `'` so that it
    stays text. Numbers stay numbers (-1.5 is a number, not a formula)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        value = _illegal_characters().sub("\ufffd", value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def to_csv(sheets: dict[str, list[list[Any]]]) -> bytes:
    """Each table under a `[name]` line, tables separated by an empty line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for i, (name, rows) in enumerate(sheets.items()):
        if i:
            writer.writerow([])
        writer.writerow([f"[{name}]"])
        writer.writerows([["" if v is None else cell(v) for v in row] for row in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    blank = book.active  # a new workbook's one empty sheet
    assert blank is not None
    book.remove(blank)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append([cell(v) for v in row])
        for header in sheet[1]:
            header.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._") or "x"


def filename(kind: str, ident: str, start: date | None, end: date | None, fmt: str) -> str:
    span = f"{start.isoformat() if start else 'all'}_{end.isoformat() if end else 'all'}"
    return f"{kind}-{_safe(ident)}-summary-{span}.{fmt}"


def file_response(summary: KpiOut, fmt: str, name: str) -> Response:
    sheets = tables(summary)
    body = to_csv(sheets) if fmt == "csv" else to_xlsx(sheets)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


OPENAPI_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the summary as a file (tables: summary, daily; teams add agents and warnings)",
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "\ufeff[summary]\r\nmetric,value\r\nagent,A1024\r\n...\r\ninteractions,96\r\n"
                "average score,63.2\r\n...\r\n\r\n[daily]\r\ndate,interactions,average_score,red,yellow,green\r\n"
                "2026-11-20,41,57.3,19,12,10\r\n",
            },
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
