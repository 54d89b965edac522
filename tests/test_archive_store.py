"""The archive's query layer against the sandbox archive: every way a search is answered gives the same pages."""

from __future__ import annotations

import sqlite3

import pytest

from server.archive.demo import DemoArchive
from server.archive.store import ArchiveQueryError, ArchiveStore, ConversationSearch, fts_query
from tests.archive_support import demo

__all__ = ["demo"]


def every_page(store: ArchiveStore, query: ConversationSearch, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    offset, total = 0, -1
    while True:
        page = store.search(query, offset=offset, limit=limit).page
        total = page.total
        ids.extend(row.id for row in page.items)
        if page.next_offset is None:
            return ids, total
        offset = page.next_offset


WORDS = "rid IN (SELECT rowid >> 20 FROM messages_fts WHERE messages_fts MATCH 'refund')"
VIP = "rid IN (SELECT rid FROM message_tags WHERE tag = 'vip')"
REFUND_TOPIC = "rid IN (SELECT rid FROM conversation_topics WHERE topic = 'Refund')"
BILLING_TEAM = "rid IN (SELECT rid FROM participants WHERE name = 'Billing')"


@pytest.mark.parametrize(
    ("query", "where"),
    [
        # Many matches (walked newest first), few matches (one pass), words only, sets only, sets and columns.
        (ConversationSearch(status="Resolved"), "status = 'Resolved'"),
        (ConversationSearch(status="Resolved", csat_max=2), "status = 'Resolved' AND csat <= 2"),
        (ConversationSearch(text="refund"), WORDS),
        (ConversationSearch(tag="vip", topic="Refund"), f"{VIP} AND {REFUND_TOPIC}"),
        (ConversationSearch(text="refund", channel="Email", person="Billing"), f"{WORDS} AND medium = 'Email' AND "
         f"{BILLING_TEAM}"),
        (ConversationSearch(), "1"),
    ],
)  # fmt: skip
def test_paging_through_a_search_gives_every_match_once_newest_first(
    demo: DemoArchive, query: ConversationSearch, where: str
) -> None:
    conn = sqlite3.connect(demo.archive_path)
    expected = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM conversations WHERE {where} ORDER BY created_ms DESC, rid DESC"  # noqa: S608 - test SQL
        )
    ]
    store = ArchiveStore(demo.archive_path)
    ids, total = every_page(store, query, limit=100)
    assert total == len(expected) > 0
    assert ids == expected


def test_free_text_is_quoted_word_by_word_and_never_passed_as_query_syntax() -> None:
    assert fts_query('refund OR "x" NEAR(a b) content:y -z *') == '"refund" "OR" "x" "NEAR" "a" "b" "content" "y"'
    assert fts_query("one two three four five six seven eight nine").count('"') == 16  # at most eight words
    with pytest.raises(ArchiveQueryError, match="no words"):
        fts_query('"" () * :')


def test_paging_arguments_out_of_range_are_refused(demo: DemoArchive) -> None:
    store = ArchiveStore(demo.archive_path)
    with pytest.raises(ArchiveQueryError, match="offset"):
        store.search(ConversationSearch(), offset=-1)
    with pytest.raises(ArchiveQueryError, match="limit"):
        store.conversation("x", limit=1000)
