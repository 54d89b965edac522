"""The Sparkcentral archive tools through a real MCP client session, against the sandbox's imported export set."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from server.app import build_server
from server.archive.demo import DemoArchive
from server.catalog import Catalog
from server.runtime import open_app
from server.sandbox.runner import RunningSandbox
from tests.archive_support import demo
from tests.conftest import ALL_TOOLS, SandboxAdmin, sandbox_settings
from tools.archive import archived_history
from tools.common import Deps

__all__ = ["demo"]
pytestmark = pytest.mark.anyio

ARCHIVE_TOOLS = {"search_sparkcentral", "get_sparkcentral_conversation", "get_sparkcentral_report"}
NEXT = re.compile(r"^Next page: (\w+) (\{.*\})$", re.MULTILINE)


def archive_settings(running: RunningSandbox, demo: DemoArchive, **overrides: Any) -> Any:
    return sandbox_settings(running, **demo.settings(), **overrides)


@pytest.fixture
async def session(running: RunningSandbox, sandbox: SandboxAdmin, demo: DemoArchive) -> AsyncIterator[Client]:
    """An MCP client session with a server whose archive is the sandbox's."""
    async with Client(build_server(archive_settings(running, demo))) as client:
        yield client


def text_of(outcome: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in outcome.content)


def next_call(outcome: CallToolResult) -> tuple[str, dict[str, Any]] | None:
    found = NEXT.search(text_of(outcome))
    return (found.group(1), json.loads(found.group(2))) if found else None


def db(demo: DemoArchive) -> sqlite3.Connection:
    return sqlite3.connect(demo.archive_path)


async def test_the_archive_tools_are_registered_only_when_an_archive_is_configured(
    running: RunningSandbox, sandbox: SandboxAdmin, demo: DemoArchive, session: Client
) -> None:
    async with Client(build_server(sandbox_settings(running))) as plain:
        assert {t.name for t in (await plain.list_tools()).tools} == ALL_TOOLS
    listing = {t.name: t for t in (await session.list_tools()).tools}
    assert set(listing) == ALL_TOOLS | ARCHIVE_TOOLS
    for name in ARCHIVE_TOOLS:
        hints = listing[name].annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.open_world_hint) == (True, False, False)
    assert sandbox.requests() == 0


async def test_a_text_search_pages_with_a_next_call_the_model_can_copy(session: Client, demo: DemoArchive) -> None:
    first = await session.call_tool("search_sparkcentral", {"text": "refund", "page_size": 5})
    assert not first.is_error, text_of(first)
    data = first.structured_content or {}
    expected = (
        db(demo)
        .execute("SELECT count(DISTINCT rowid >> 20) FROM messages_fts WHERE messages_fts MATCH 'refund'")
        .fetchone()[0]
    )
    assert data["total"] == expected > 5
    assert "newest first" in text_of(first)
    following = next_call(first)
    assert following == ("search_sparkcentral", {"text": "refund", "offset": 5, "page_size": 5})
    second = await session.call_tool(*following)
    ids = [c["id"] for c in data["conversations"]]
    more = [c["id"] for c in (second.structured_content or {})["conversations"]]
    assert len(more) == 5
    assert not set(ids) & set(more)
    created = [c["created"] for c in data["conversations"] + (second.structured_content or {})["conversations"]]
    assert created == sorted(created, reverse=True)


async def test_a_customer_is_found_by_email_phone_or_handle_and_the_match_is_named(
    session: Client, demo: DemoArchive
) -> None:
    email = demo.written.sample_emails[0]
    by_email = await session.call_tool("search_sparkcentral", {"contact": email.upper()})
    hits = (by_email.structured_content or {})["contacts"]
    assert hits[0]["matched_by"] == "email"
    assert "best-effort" in text_of(by_email)
    contact_ids = {h["contact_id"] for h in hits}
    conn = db(demo)
    expected = conn.execute(
        f"SELECT count(*) FROM conversations WHERE contact_id IN ({','.join('?' * len(contact_ids))})",  # noqa: S608
        sorted(contact_ids),
    ).fetchone()[0]
    assert (by_email.structured_content or {})["total"] == expected > 0

    phone = demo.written.sample_phones[0]
    digits = re.sub(r"\D", "", phone)
    spaced = f"+{digits[:-7]} ({digits[-7:-4]}) {digits[-4:]}"
    by_phone = await session.call_tool("search_sparkcentral", {"contact": spaced})
    assert (by_phone.structured_content or {})["contacts"][0]["matched_by"] == "phone"

    handle = demo.written.sample_handles[0]
    by_handle = await session.call_tool("search_sparkcentral", {"contact": "@" + handle.upper()})
    assert (by_handle.structured_content or {})["contacts"][0]["matched_by"] == "handle"
    assert (by_handle.structured_content or {})["total"] > 0


async def test_filters_narrow_the_search_and_counts_agree_with_the_archive(session: Client, demo: DemoArchive) -> None:
    conn = db(demo)
    cases: list[tuple[dict[str, Any], str, tuple[Any, ...]]] = [
        ({"status": "pending"}, "status = 'Pending'", ()),
        ({"channel": "whatsapp"}, "medium = 'WhatsApp'", ()),
        ({"topic": "refund"}, "rid IN (SELECT rid FROM conversation_topics WHERE topic = 'Refund')", ()),
        ({"tag": "VIP"}, "rid IN (SELECT rid FROM message_tags WHERE tag = 'vip')", ()),
        ({"agent": "maya chen"}, "rid IN (SELECT rid FROM participants WHERE name = 'Maya Chen')", ()),
        ({"agent": "Billing"}, "rid IN (SELECT rid FROM participants WHERE name = 'Billing')", ()),
        ({"reason": "duplicate"}, "resolve_reason = 'Duplicate'", ()),
        ({"csat": "1-2"}, "csat BETWEEN 1 AND 2", ()),
        ({"since": "2024-06-01", "until": "2024-06-30"}, "created_ms BETWEEN ? AND ?", (1717200000000, 1719791999999)),
    ]
    for arguments, where, params in cases:
        outcome = await session.call_tool("search_sparkcentral", {**arguments, "page_size": 3})
        assert not outcome.is_error, (arguments, text_of(outcome))
        sql = f"SELECT count(*) FROM conversations WHERE {where}"  # noqa: S608 - the test's own constants
        expected = conn.execute(sql, params).fetchone()[0]
        assert (outcome.structured_content or {})["total"] == expected > 0, arguments


async def test_search_words_are_never_read_as_query_syntax(session: Client) -> None:
    for text in ('refund" OR "x', "content:refund", "NEAR(refund charger)", "refund*", "-refund", "^refund"):
        outcome = await session.call_tool("search_sparkcentral", {"text": text})
        assert not outcome.is_error, (text, text_of(outcome))
    nothing = await session.call_tool("search_sparkcentral", {"text": "!!! ???"})
    assert nothing.is_error
    assert "no words" in text_of(nothing)


async def test_a_conversation_reads_in_order_with_fenced_text_and_the_next_offset(
    session: Client, demo: DemoArchive
) -> None:
    conn = db(demo)
    conversation_id, count = conn.execute(
        "SELECT conversation_id, count(*) AS n FROM messages WHERE content IS NOT NULL"
        " GROUP BY conversation_id ORDER BY n DESC LIMIT 1"
    ).fetchone()
    first = await session.call_tool("get_sparkcentral_conversation", {"conversation_id": conversation_id, "limit": 4})
    data = first.structured_content or {}
    assert data["total_messages"] == count
    assert data["conversation"]["id"] == conversation_id
    times = [m["time"] for m in data["messages"]]
    assert times == sorted(times)
    fence = re.search(r"<<untrusted:([0-9a-f]+)>>", text_of(first))
    assert fence is not None
    assert all(m["text"].startswith(f"<<untrusted:{fence.group(1)}>>") for m in data["messages"] if "text" in m)
    assert next_call(first) == (
        "get_sparkcentral_conversation",
        {"conversation_id": conversation_id, "offset": 4, "limit": 4},
    )


async def test_a_twitter_message_without_content_says_why(session: Client, demo: DemoArchive) -> None:
    conversation_id = (
        db(demo).execute("SELECT conversation_id FROM messages WHERE content IS NULL LIMIT 1").fetchone()[0]
    )
    outcome = await session.call_tool("get_sparkcentral_conversation", {"conversation_id": conversation_id})
    notes = {m.get("note") for m in (outcome.structured_content or {})["messages"]}
    assert any(note and "Twitter content" in note for note in notes)


async def test_an_unknown_conversation_is_a_tool_error_that_points_to_search(session: Client) -> None:
    outcome = await session.call_tool("get_sparkcentral_conversation", {"conversation_id": "cv-nope"})
    assert outcome.is_error
    assert "search_sparkcentral" in text_of(outcome)


async def test_reports_count_every_value_by_team_agent_topic_and_week(session: Client, demo: DemoArchive) -> None:
    conn = db(demo)
    responses = conn.execute("SELECT count(*) FROM response_times WHERE response_s IS NOT NULL").fetchone()[0]
    rated = conn.execute("SELECT count(*) FROM conversations WHERE csat IS NOT NULL").fetchone()[0]
    for by in ("team", "agent", "week"):
        outcome = await session.call_tool("get_sparkcentral_report", {"by": by})
        data = outcome.structured_content or {}
        assert data["count"] == responses, by
        assert sum(r["count"] for r in data["rows"]) == responses or data["groups"] > len(data["rows"])
    csat = await session.call_tool("get_sparkcentral_report", {"by": "team", "metric": "csat"})
    data = csat.structured_content or {}
    assert data["count"] == rated
    assert all(row["average"].endswith("/ 5") and row["satisfied"].endswith("%") for row in data["rows"])
    by_topic = await session.call_tool("get_sparkcentral_report", {"by": "topic", "metric": "resolution"})
    assert {row["key"] for row in (by_topic.structured_content or {})["rows"]} >= {"Refund", "Billing"}


async def test_an_archive_not_imported_yet_says_to_run_the_import(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    settings = sandbox_settings(
        running, sparkcentral_export_dir=str(tmp_path), sparkcentral_archive_path=str(tmp_path / "none.sqlite3")
    )
    async with Client(build_server(settings)) as client:
        outcome = await client.call_tool("search_sparkcentral", {"text": "refund"})
    assert outcome.is_error
    assert "sprinklr-mcp archive import" in text_of(outcome)


async def test_the_lookup_profile_helper_finds_a_sprinklr_customers_archived_conversations(
    running: RunningSandbox, sandbox: SandboxAdmin, demo: DemoArchive
) -> None:
    settings = archive_settings(running, demo)
    async with open_app(settings) as app:
        d = Deps(app=app, client=app.client, settings=settings, catalog=Catalog(app.client, settings))
        found = await archived_history(d, email=demo.written.sample_emails[0])
        assert found is not None
        assert found.contacts[0].matched_by == "email"
        assert found.total >= len(found.conversations) > 0
        assert "best-effort" in found.note
        assert await archived_history(d, email="nobody@nowhere.example") is None


async def test_a_report_time_range_counts_the_whole_weeks_it_touches(session: Client, demo: DemoArchive) -> None:
    outcome = await session.call_tool(
        "get_sparkcentral_report", {"by": "week", "metric": "csat", "since": "2024-06-05", "until": "2024-06-20"}
    )
    weeks = [row["key"] for row in (outcome.structured_content or {})["rows"]]
    assert weeks == ["2024-06-17", "2024-06-10", "2024-06-03"]
    assert "whole weeks" in text_of(outcome) or "week" in text_of(outcome)
