"""Weekly sums behind the reports: response times and CSAT by team, agent, topic and week, built after an import.

A report over a million-message archive would otherwise group 100k+ rows (and join topics) on every call; the
rollup holds one row per metric, dimension, week and key, so a report reads a few thousand. The price: report time
ranges are whole weeks (Monday to Sunday, UTC).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Literal

ReportBy = Literal["team", "agent", "topic", "week"]
ReportMetric = Literal["response_time", "first_response", "resolution", "csat"]
DIMENSIONS: tuple[ReportBy, ...] = ("team", "agent", "topic", "week")

# Per metric: the rows, the value, the moment that places it in a week, the conversation's rid, agent and team.
# Fixed SQL fragments: nothing from input is ever put in them.
_SOURCES: dict[ReportMetric, dict[str, str]] = {
    "response_time": {
        "from": "response_times r LEFT JOIN conversations c ON c.id = r.conversation_id",
        "value": "r.response_s",
        "time": "coalesce(r.to_ms, c.created_ms)",
        "agent": "coalesce(r.agent_name, r.agent_id)",
        "team": "r.team_name",
    },
    "first_response": {
        "from": "conversations c",
        "value": "c.first_response_s",
        "time": "c.created_ms",
        "agent": "coalesce(c.resolved_agent_name, c.lsc_agent_name)",
        "team": "c.lsc_team_name",
    },
    "resolution": {
        "from": "conversations c",
        "value": "c.resolution_s",
        "time": "coalesce(c.resolved_ms, c.created_ms)",
        "agent": "coalesce(c.resolved_agent_name, c.lsc_agent_name)",
        "team": "c.lsc_team_name",
    },
    "csat": {
        "from": "conversations c",
        "value": "c.csat",
        "time": "coalesce(c.resolved_ms, c.created_ms)",
        "agent": "coalesce(c.resolved_agent_name, c.lsc_agent_name)",
        "team": "c.lsc_team_name",
    },
}


def _week(moment: str) -> str:
    return f"date({moment} / 1000, 'unixepoch', '-6 days', 'weekday 1')"


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every weekly sum from the stored rows (inside the caller's transaction)."""
    conn.execute("DELETE FROM report_rollup")
    for metric, src in _SOURCES.items():
        value, week = src["value"], _week(src["time"])
        for dimension in DIMENSIONS:
            joins = ""
            if dimension == "topic":
                joins = " JOIN conversation_topics t ON t.rid = c.rid"
                key = "t.topic"
            elif dimension == "week":
                key = week
            else:
                key = src[dimension]
            conn.execute(
                "INSERT INTO report_rollup (metric, dimension, week, key, n, total, lowest, highest, satisfied)"  # noqa: S608
                f" SELECT ?, ?, coalesce({week}, ''), coalesce({key}, '(unknown)'), count(*), sum({value}),"
                f" min({value}), max({value}), sum({value} >= 4) FROM {src['from']}{joins}"
                f" WHERE {value} IS NOT NULL GROUP BY 3, 4",
                (metric, dimension),
            )


def week_of(epoch_ms: int) -> str:
    """The Monday (UTC) of the week an instant falls in, as the rollup names weeks: '2024-03-04'."""
    day = datetime.fromtimestamp(epoch_ms / 1000, UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()
