"""Questions answered from the archive: conversation search, one conversation read, contact matching, reports.

Every query is parameterised (only fixed SQL fragments are joined, never input), full-text terms are quoted one by
one (no user syntax reaches MATCH), and every list is bounded with a total count. No MCP here.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from server.archive.db import SEQ_BITS, ArchiveUnavailable, connect
from server.archive.rollup import ReportBy, ReportMetric, week_of
from server.archive.values import handle_key, identifier, phone_key, split_list

T = TypeVar("T")
MAX_TERMS = 8
MAX_CONTACTS = 50
MAX_PAGE = 100
# Above this many matches a search walks the conversations newest first instead of sorting its matches.
WALK_ABOVE = 2000

IdentifierKind = Literal["email", "phone", "handle", "name", "profile_id"]


class ArchiveQueryError(ValueError):
    """The question cannot be asked as given; the message says what is allowed."""


def fts_query(text: str) -> str:
    """An FTS5 MATCH string from free text: each word quoted (so no operator or column syntax gets through), all
    required. At most eight words."""
    words = re.findall(r"\w+", text)
    if not words:
        raise ArchiveQueryError("text has no words to search for; give one or more words, e.g. 'refund charger'")
    return " ".join('"' + word.replace('"', "") + '"' for word in words[:MAX_TERMS])


@dataclass(frozen=True, slots=True)
class ContactMatch:
    """An archived contact found by an identifier, and which identifier matched."""

    contact_id: str
    matched_by: IdentifierKind
    matched_value: str
    source: str
    medium: str | None = None
    primary: str | None = None
    secondary: str | None = None
    conversations: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One archived conversation, as its export row had it."""

    id: str
    status: str | None
    medium: str | None
    channel: str | None
    contact_id: str | None
    contact_primary: str | None
    contact_secondary: str | None
    created_ms: int | None
    resolved_ms: int | None
    updated_ms: int | None
    topics: list[str]
    agent: str | None
    team: str | None
    resolved_by: str | None
    resolve_reason: str | None
    resolve_comment: str | None
    inbound: int | None
    outbound: int | None
    first_response_s: float | None
    resolution_s: float | None
    language: str | None
    csat: int | None
    csat_status: str | None
    csat_answer: str | None
    from_messages_only: bool


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One archived message."""

    id: str
    created_ms: int
    direction: str | None
    medium: str | None
    message_type: str | None
    agent: str | None
    team: str | None
    tags: list[str]
    content: str | None
    deleted_ms: int | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A bounded slice of a longer list: the items, the total, and where the next slice starts (None at the end)."""

    items: list[T]
    total: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None when this is the last."""
        end = self.offset + len(self.items)
        return end if end < self.total else None


@dataclass(frozen=True, slots=True)
class ConversationSearch:
    """Filters of a conversation search; every one optional, all given ones must hold."""

    contact: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    status: str | None = None
    medium: str | None = None
    channel: str | None = None
    topic: str | None = None
    tag: str | None = None
    agent: str | None = None
    team: str | None = None
    # An agent's or a team's name, whichever it is.
    person: str | None = None
    resolve_reason: str | None = None
    csat_min: int | None = None
    csat_max: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of conversations, and the contacts a contact filter resolved to."""

    page: Page[ConversationRow]
    contacts: list[ContactMatch] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation and a page of its messages, oldest first."""

    conversation: ConversationRow
    messages: Page[MessageRow]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group of a report: how many, and the average, lowest and highest value (seconds, or CSAT 1-5)."""

    key: str
    count: int
    average: float | None
    minimum: float | None
    maximum: float | None
    satisfied_share: float | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """An aggregate by team, agent, topic or week."""

    by: ReportBy
    metric: ReportMetric
    rows: list[ReportRow]
    groups: int
    count: int


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    """What the archive holds and when it was last filled."""

    path: str
    files: int
    skipped_rows: int
    last_import: float | None
    counts: dict[str, int]
    first_ms: int | None
    last_ms: int | None


_CONVERSATION_COLUMNS = (
    "c.id, c.status, c.medium, coalesce(c.channel_display, c.channel), c.contact_id, c.contact_primary,"
    " c.contact_secondary, c.created_ms, c.resolved_ms, c.updated_ms, c.topic_names,"
    " coalesce(c.resolved_agent_name, c.lsc_agent_name), c.lsc_team_name, c.resolved_by, c.resolve_reason,"
    " c.resolve_comment, c.inbound, c.outbound, c.first_response_s, c.resolution_s, c.language, c.csat,"
    " c.csat_status, c.csat_answer, c.stub"
)


def _conversation(row: tuple[Any, ...]) -> ConversationRow:
    values = list(row)
    values[10] = split_list(values[10])
    values[24] = bool(values[24])
    return ConversationRow(*values)


class ArchiveStore:
    """Read-only queries over one archive file; safe to use from several threads (a connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    # -- contacts ---------------------------------------------------------------------------------------------------

    def find_contacts(
        self, *, email: str | None = None, phone: str | None = None, handle: str | None = None, limit: int = 10
    ) -> list[ContactMatch]:
        """Archived contacts matching an email (any case), a phone (by its last digits) or a handle (no '@')."""
        found: dict[str, ContactMatch] = {}
        asked: list[tuple[IdentifierKind, str | None]] = [("email", email), ("phone", phone), ("handle", handle)]
        for kind, value in asked:
            if value:
                for match in self._match(kind, value, limit):
                    found.setdefault(match.contact_id, match)
        return list(found.values())[:limit]

    def _match(self, kind: IdentifierKind, value: str, limit: int) -> list[ContactMatch]:
        conn = self._conn()
        rows: list[tuple[str, str, str]]
        if kind == "phone":
            key = phone_key(value)
            if key is None:
                return []
            # Reversed digits: the last digits are a prefix, so '+1 415 555 0100' and '4155550100' meet.
            rows = conn.execute(
                "SELECT DISTINCT contact_id, raw, source FROM identifiers WHERE kind = 'phone' AND norm >= ?"
                " AND norm < ? LIMIT ?",
                (key, key + "\uffff", MAX_CONTACTS),
            ).fetchall()
        elif kind == "profile_id":
            rows = conn.execute(
                "SELECT contact_id, contact_id, 'contact profile id' FROM conversations WHERE contact_id = ? LIMIT 1",
                (value.strip(),),
            ).fetchall()
        else:
            norm = value.strip().lower() if kind == "email" else handle_key(value)
            if kind == "name":
                norm = " ".join(value.lower().split())
            rows = conn.execute(
                "SELECT DISTINCT contact_id, raw, source FROM identifiers WHERE kind = ? AND norm = ? LIMIT ?",
                (kind, norm, MAX_CONTACTS),
            ).fetchall()
        matches: dict[str, ContactMatch] = {}
        for contact_id, raw, source in rows:
            if contact_id in matches:
                continue
            facts = conn.execute(
                "SELECT count(*), min(created_ms), max(created_ms), max(medium), max(contact_primary),"
                " max(contact_secondary) FROM conversations WHERE contact_id = ?",
                (contact_id,),
            ).fetchone()
            matches[contact_id] = ContactMatch(
                contact_id, kind, raw, source, facts[3], facts[4], facts[5], facts[0], facts[1], facts[2]
            )
            if len(matches) >= limit:
                break
        return sorted(matches.values(), key=lambda m: -(m.last_ms or 0))

    def resolve_contact(self, value: str) -> list[ContactMatch]:
        """The contacts a free-form contact value names: a contact profile id, an email, a phone or a handle/name."""
        value = value.strip()
        direct = self._match("profile_id", value, 1)
        if direct:
            return direct
        found = identifier(value)
        if found is None:
            return []
        kind = found[0]
        matches = self._match(kind, value, MAX_CONTACTS)
        if not matches and kind == "phone":
            matches = self._match("handle", value, MAX_CONTACTS)
        return matches

    # -- conversations ----------------------------------------------------------------------------------------------

    def search(self, query: ConversationSearch, *, offset: int = 0, limit: int = 20) -> SearchResult:
        """Conversations matching every given filter, newest first, with the total count."""
        if not 0 <= offset <= 1_000_000 or not 1 <= limit <= MAX_PAGE:
            raise ArchiveQueryError(f"offset must be 0-1000000 and limit 1-{MAX_PAGE}")
        where: list[str] = []
        params: list[Any] = []
        contacts: list[ContactMatch] = []
        if query.contact:
            contacts = self.resolve_contact(query.contact)
            if not contacts:
                return SearchResult(Page([], 0, offset), [])
            where.append(f"c.contact_id IN ({', '.join('?' * len(contacts))})")
            params.extend(m.contact_id for m in contacts)
        for column, value in (
            ("c.status", query.status),
            ("c.medium", query.medium),
            ("c.resolve_reason", query.resolve_reason),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value.strip())
        if query.channel:
            # People say "email" or "the WhatsApp channel": the medium, the channel or its display name.
            where.append("(c.medium = ? OR c.channel = ? OR c.channel_display = ?)")
            params.extend([query.channel.strip()] * 3)
        if query.since_ms is not None:
            where.append("c.created_ms >= ?")
            params.append(query.since_ms)
        if query.until_ms is not None:
            where.append("c.created_ms <= ?")
            params.append(query.until_ms)
        if query.csat_min is not None:
            where.append("c.csat >= ?")
            params.append(query.csat_min)
        if query.csat_max is not None:
            where.append("c.csat <= ?")
            params.append(query.csat_max)
        # Filters that name a set of conversations (topic, tag, people, words) are intersected in one subquery: SQLite
        # then visits only the conversations in all of them, instead of probing each set per conversation.
        sets: list[str] = []
        set_params: list[Any] = []
        if query.topic:
            sets.append("SELECT rid FROM conversation_topics WHERE topic = ?")
            set_params.append(query.topic.strip())
        if query.tag:
            sets.append("SELECT rid FROM message_tags WHERE tag = ?")
            set_params.append(query.tag.strip())
        for kind, value in (("agent", query.agent), ("team", query.team)):
            if value:
                sets.append("SELECT rid FROM participants WHERE kind = ? AND name = ?")
                set_params.extend([kind, value.strip()])
        if query.person:
            sets.append("SELECT rid FROM participants WHERE kind IN ('agent', 'team') AND name = ?")
            set_params.append(query.person.strip())
        if query.text:
            # A match's rowid is its message's seq, whose high bits are the conversation's rid (see db.py).
            sets.append(f"SELECT rowid >> {SEQ_BITS} FROM messages_fts WHERE messages_fts MATCH ?")  # noqa: S608
            set_params.append(fts_query(query.text))
        if sets:
            where.append(f"c.rid IN ({' INTERSECT '.join(sets)})")
            params.extend(set_params)
        clause = f"WHERE {' AND '.join(where)}" if where else ""  # fixed fragments only; every value is bound
        conn = self._conn()
        if sets and len(where) == 1:
            # Only set filters: count the intersection itself (in the indexes), without visiting a conversation.
            compound = " INTERSECT ".join(sets) if len(sets) > 1 else f"SELECT DISTINCT * FROM ({sets[0]})"  # noqa: S608
            total = conn.execute(f"SELECT count(*) FROM ({compound})", params).fetchone()[0]  # noqa: S608
        elif where:
            # One pass finds up to WALK_ABOVE matches: when that is all of them, they are the whole answer.
            found = conn.execute(
                f"SELECT c.rid, c.created_ms FROM conversations c {clause} LIMIT ?",  # noqa: S608 - fixed fragments
                [*params, WALK_ABOVE + 1],
            ).fetchall()
            if len(found) <= WALK_ABOVE:
                found.sort(key=lambda pair: (pair[1] or 0, pair[0]), reverse=True)
                page = [rid for rid, _ in found[offset : offset + limit]]
                return SearchResult(Page(self._rows_by_rid(page), len(found), offset), contacts)
            total = conn.execute(f"SELECT count(*) FROM conversations c {clause}", params).fetchone()[0]  # noqa: S608
        else:
            total = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        if total == 0 or offset >= total:
            return SearchResult(Page([], total, offset), contacts)
        # Many matches: walk the conversations newest first and stop at the page (SQLite would rather fetch every
        # match and sort them). Few: fetch them and sort, rather than walk past all the others.
        walk = "INDEXED BY conversations_by_created" if total > WALK_ABOVE else ""
        rows = conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c {walk} {clause}"  # noqa: S608 - fixed fragments
            " ORDER BY c.created_ms DESC, c.rid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return SearchResult(Page([_conversation(r) for r in rows], total, offset), contacts)

    def _rows_by_rid(self, rids: list[int]) -> list[ConversationRow]:
        """These conversations, in this order."""
        if not rids:
            return []
        rows = self._conn().execute(
            f"SELECT c.rid, {_CONVERSATION_COLUMNS} FROM conversations c"  # noqa: S608 - placeholders only
            f" WHERE c.rid IN ({', '.join('?' * len(rids))})",
            rids,
        )
        by_rid = {row[0]: _conversation(row[1:]) for row in rows}
        return [by_rid[rid] for rid in rids if rid in by_rid]

    def conversation(self, conversation_id: str, *, offset: int = 0, limit: int = 30) -> Conversation | None:
        """One conversation and a page of its messages in time order; None if the archive has no such id."""
        if not 0 <= offset <= 1_000_000 or not 1 <= limit <= MAX_PAGE:
            raise ArchiveQueryError(f"offset must be 0-1000000 and limit 1-{MAX_PAGE}")
        conn = self._conn()
        row = conn.execute(
            f"SELECT c.rid, {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",  # noqa: S608 - fixed
            (conversation_id,),
        ).fetchone()
        if row is None:
            return None
        low = row[0] << SEQ_BITS
        span = (low, low + (1 << SEQ_BITS))
        total = conn.execute("SELECT count(*) FROM messages WHERE seq >= ? AND seq < ?", span).fetchone()[0]
        messages = [
            MessageRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], split_list(r[7]), r[8], r[9])
            for r in conn.execute(
                "SELECT id, created_ms, direction, medium, message_type, agent_name, team_name, tag_names, content,"
                " deleted_ms FROM messages WHERE seq >= ? AND seq < ? ORDER BY created_ms, seq LIMIT ? OFFSET ?",
                (*span, limit, offset),
            )
        ]
        return Conversation(_conversation(row[1:]), Page(messages, total, offset))

    def history(self, matches: list[ContactMatch], *, limit: int = 5) -> Page[ConversationRow]:
        """The most recent archived conversations of these contacts (for a customer lookup)."""
        if not matches:
            return Page([], 0, 0)
        marks = ", ".join("?" * len(matches))
        ids = [m.contact_id for m in matches]
        conn = self._conn()
        total = conn.execute(
            f"SELECT count(*) FROM conversations c WHERE c.contact_id IN ({marks})",  # noqa: S608 - placeholders
            ids,
        ).fetchone()[0]
        rows = conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.contact_id IN ({marks})"  # noqa: S608
            " ORDER BY c.created_ms DESC LIMIT ?",
            [*ids, limit],
        ).fetchall()
        return Page([_conversation(r) for r in rows], total, 0)

    # -- reports ----------------------------------------------------------------------------------------------------

    def report(
        self,
        by: ReportBy,
        metric: ReportMetric,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 25,
    ) -> Report:
        """Count, average, lowest and highest of a metric per team, agent, topic or week, from the weekly rollup
        (so since/until count the whole weeks, Monday to Sunday UTC, they fall in)."""
        where = ["metric = ?", "dimension = ?"]
        params: list[Any] = [metric, by]
        if since_ms is not None or until_ms is not None:
            where.append("week != ''")
        if since_ms is not None:
            where.append("week >= ?")
            params.append(week_of(since_ms))
        if until_ms is not None:
            where.append("week <= ?")
            params.append(week_of(until_ms))
        order = "key DESC" if by == "week" else "sum(n) DESC, key"
        rows = (
            self._conn()
            .execute(
                "SELECT key, sum(n), sum(total) / sum(n), min(lowest), max(highest), sum(satisfied) * 1.0 / sum(n)"  # noqa: S608
                f" FROM report_rollup WHERE {' AND '.join(where)} GROUP BY key ORDER BY {order}",
                params,
            )
            .fetchall()
        )
        csat = metric == "csat"
        report_rows = [
            ReportRow(str(r[0]), r[1], _round(r[2]), _round(r[3]), _round(r[4]), _round(r[5], 3) if csat else None)
            for r in rows
        ]
        return Report(by, metric, report_rows[:limit], len(report_rows), sum(r.count for r in report_rows))

    # -- status -----------------------------------------------------------------------------------------------------

    def status(self) -> ArchiveStatus:
        """Files imported, rows per kind, and the time span of the conversations."""
        conn = self._conn()
        files, skipped, last = conn.execute("SELECT count(*), sum(skipped), max(imported_at) FROM imports").fetchone()
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - constant names
            for table in ("conversations", "messages", "contacts", "response_times")
        }
        first, latest = conn.execute("SELECT min(created_ms), max(created_ms) FROM conversations").fetchone()
        return ArchiveStatus(str(self.path), files, skipped or 0, last, counts, first, latest)

    def close(self) -> None:
        """Close every thread's connection (a later query opens a new one)."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def open_store(path: Path) -> ArchiveStore:
    """A store over an existing archive file; ArchiveUnavailable (saying to import first) if there is none."""
    if not path.exists():
        raise ArchiveUnavailable(f"no archive at {path} yet: run `sprinklr-mcp archive import` first")
    return ArchiveStore(path)
