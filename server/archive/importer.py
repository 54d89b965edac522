"""Import export files from a source into the archive: streaming, batched, one transaction per file, idempotent.

Why one transaction per file rather than resumable chunks: a file is the unit the `imports` table keys on (path,
size, mtime), so a file is either wholly in the archive or not at all, and a crash or a file that changed under us
costs re-reading that one file, never a half-imported one to reconcile. Scheduled exports are hourly, daily or
weekly files; even a million-message file is one transaction of ~20 s whose memory is SQLite's bounded page cache
(the rest spills into the WAL), not the file's size.
"""

from __future__ import annotations

import csv
import gc
import json
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from server.archive import formats, rollup
from server.archive.db import FILE_TABLES, SEQ_BITS
from server.archive.formats import COLUMNS, ExportType
from server.archive.reader import CsvStream, RowError, converter, make_plan, open_csv
from server.archive.sources import ExportFile, Source
from server.archive.values import Times, identifier, split_list

BATCH_ROWS = 2000
# New messages go into the full-text index this many at a time: each switch between writing the table and the
# index costs a flush of FTS5's pending terms, so fewer, larger switches import faster (measured in bench/archive.py).
FTS_EVERY = 10_000
# ... or once this much text waits, so that memory stays bounded whatever the messages' size.
FTS_CHARS = 8 * 1024 * 1024
MAX_EXAMPLES = 5
# Per-file memory of what derived rows were already written; cleared past this so memory stays bounded.
MAX_SEEN = 200_000

Status = Literal["imported", "unchanged", "changed", "unknown", "failed"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that was skipped: where it starts and why (no customer text)."""

    line: int
    reason: str


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    export_type: ExportType | None
    status: Status
    rows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    encoding: str | None = None
    examples: list[Problem] = field(default_factory=list)
    message: str | None = None

    def line(self) -> str:
        """The one-line summary printed per file."""
        kind = self.export_type or "?"
        if self.status == "unchanged":
            return f"{self.path}: unchanged since the last import ({kind})"
        if self.status != "imported":
            return f"{self.path}: {self.status}: {self.message}"
        text = f"{self.path}: {self.rows} rows imported, {self.skipped} skipped, {self.seconds:.2f}s ({kind})"
        if self.examples:
            text += "; first skipped: " + "; ".join(f"line {p.line}: {p.reason}" for p in self.examples[:3])
        return text


@dataclass
class Progress:
    """Where an import is: which file of how many, and how many of its bytes were read."""

    index: int
    total: int
    path: str
    read: int
    size: int


@dataclass
class ImportSummary:
    """The files of one import run."""

    files: list[FileResult]
    seconds: float

    @property
    def rows(self) -> int:
        """Rows imported in all."""
        return sum(f.rows for f in self.files)

    @property
    def skipped(self) -> int:
        """Malformed rows skipped in all."""
        return sum(f.skipped for f in self.files)

    def line(self) -> str:
        """The closing line of an import."""
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return (
            f"{len(self.files)} files ({parts or 'none'}): {self.rows} rows imported, {self.skipped} skipped, "
            f"{self.seconds:.1f}s"
        )


class FileChanged(Exception):
    """The file's size or modification time changed while it was read."""


class Retry(Exception):
    """The file is not the encoding it looked like; read it again as another."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


def _upsert(table: str, columns: list[str], key: str, *, newer: bool = True, keep: Iterable[str] = ()) -> str:
    """An INSERT that updates an existing row with the same key, unless the existing row is newer (updated_ms)."""
    keep = set(keep)
    sets = ", ".join(
        f"{c} = coalesce(excluded.{c}, {table}.{c})" if c in keep else f"{c} = excluded.{c}"
        for c in columns
        if c != key
    )
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608 - constants
        f"ON CONFLICT({key}) DO UPDATE SET {sets}"
    )
    if newer:
        sql += (
            f" WHERE {table}.updated_ms IS NULL OR excluded.updated_ms IS NULL"
            f" OR excluded.updated_ms >= {table}.updated_ms"
        )
    return sql


def _names(columns: tuple[formats.Column, ...]) -> list[str]:
    return [c.name for c in columns]


_CONVERSATION_SQL = _upsert("conversations", [*_names(formats.CONVERSATION), "file_id", "stub"], "id").replace(
    "WHERE conversations.updated_ms", "WHERE conversations.stub = 1 OR conversations.updated_ms"
)
# Scheduled exports leave Twitter message content out (the on-demand ones have it): never forget text we have.
_MESSAGE_STORED = (
    "id", "conversation_id", "created_ms", "medium", "message_type", "direction", "agent_id", "agent_name",
    "team_name", "tag_names", "content", "updated_ms", "deleted_ms",
)  # fmt: skip
_PICK_STORED = operator.itemgetter(*[_names(formats.MESSAGE).index(name) for name in _MESSAGE_STORED])
_MESSAGE_INDEX = {name: i for i, name in enumerate(_names(formats.MESSAGE))}
_STORED_CONTENT = 1 + _MESSAGE_STORED.index("content")  # in a stored row, after its seq
_MESSAGE_INSERT_SQL = (
    f"INSERT INTO messages (seq, {', '.join(_MESSAGE_STORED)}, file_id) "  # noqa: S608 - constant columns
    f"VALUES ({', '.join('?' * (len(_MESSAGE_STORED) + 2))})"
)
_MESSAGE_SQL = _upsert("messages", ["seq", *_MESSAGE_STORED, "file_id"], "id", keep=("content",)).replace(
    "seq = excluded.seq, ", ""
)
_STUB_SQL = (
    "INSERT INTO conversations (id, medium, channel, channel_display, contact_id, contact_primary, contact_secondary,"
    " created_ms, stub) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(id) DO UPDATE SET"
    " created_ms = min(conversations.created_ms, excluded.created_ms) WHERE conversations.stub = 1"
)
_RESPONSE_SQL = (
    f"INSERT OR REPLACE INTO response_times ({', '.join(_names(formats.RESPONSE_TIME))}, file_id) "  # noqa: S608
    f"VALUES ({', '.join('?' * (len(formats.RESPONSE_TIME) + 1))})"
)
_CONTACT_SQL = _upsert("contacts", [*_names(formats.CONTACT), "file_id"], "contact_id")
_ATTRIBUTE_SQL = (
    "INSERT OR REPLACE INTO contact_attributes (contact_id, name, attribute_id, value, attribute_type, file_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_CATALOG_SQL = "INSERT OR REPLACE INTO catalog (kind, id, name, email, data, file_id) VALUES (?, ?, ?, ?, ?, ?)"
_PRESENCE_SQL = (
    f"INSERT OR REPLACE INTO presence ({', '.join(_names(formats.PRESENCE))}, file_id) "  # noqa: S608
    f"VALUES ({', '.join('?' * (len(formats.PRESENCE) + 1))})"
)
_IDENTIFIER_SQL = (
    "INSERT OR IGNORE INTO identifiers (kind, norm, contact_id, raw, source, file_id) VALUES (?, ?, ?, ?, ?, ?)"
)
_PARTICIPANT_SQL = "INSERT OR IGNORE INTO participants (kind, name, rid, source, file_id) VALUES (?, ?, ?, ?, ?)"
_FTS_FORGET_SQL = (
    "INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', seq, content FROM messages"
    " WHERE seq = ? AND content IS NOT NULL"
)
_FTS_ADD_SQL = (
    "INSERT INTO messages_fts (rowid, content) SELECT seq, content FROM messages WHERE seq = ? AND content IS NOT NULL"
)
_TAG_SQL = "INSERT OR IGNORE INTO message_tags (tag, rid, message_id, file_id) VALUES (?, ?, ?, ?)"


_FIRST = operator.itemgetter(0)


class _Batch:
    """Rows of one file waiting to be written, and the derived rows already written for it."""

    def __init__(self, conn: sqlite3.Connection, kind: ExportType, file_id: int, plan_extras: tuple[Any, ...]) -> None:
        self.conn = conn
        self.kind = kind
        self.file_id = file_id
        self.rows: list[tuple[Any, ...]] = []
        self.extras = plan_extras
        self.seen: set[tuple[str, ...]] = set()
        # New messages' text not yet in the full-text index, added in bulk (see FTS_EVERY), and its size.
        self.unindexed: list[tuple[int, str]] = []
        self.unindexed_chars = 0
        # Each conversation's rid and the next free place in its seq range, for conversations this file touched.
        self.places: dict[str, list[int]] = {}

    def _once(self, key: tuple[str, ...]) -> bool:
        """True the first time a derived row is seen in this file."""
        if key in self.seen:
            return False
        if len(self.seen) > MAX_SEEN:
            self.seen.clear()
        self.seen.add(key)
        return True

    def _identifiers(self, contact: str | None, values: Iterable[tuple[str | None, str]], out: list[Any]) -> None:
        if not contact:
            return
        for raw, source in values:
            if raw and self._once(("i", contact, raw)):
                found = identifier(raw)
                if found:
                    out.append((found[0], found[1], contact, raw[:200], source, self.file_id))

    def flush(self, *, final: bool = False) -> None:
        """Write the waiting rows and what is derived from them (and at the end, the rest of the text index)."""
        if self.rows:
            rows, self.rows = self.rows, []
            getattr(self, "_write_" + self.kind.replace("-", "_"))(rows)
        if self.unindexed and (final or len(self.unindexed) >= FTS_EVERY or self.unindexed_chars > FTS_CHARS):
            self.index_text()

    def index_text(self) -> None:
        """Add the text of the messages stored since the last call to the full-text index."""
        # In rowid order: FTS5 writes out its pending terms whenever a rowid is lower than the one before, so an
        # export in time order, whose conversations interleave (their seqs do), would make a segment of each run.
        self.unindexed.sort(key=_FIRST)
        self.conn.executemany("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)", self.unindexed)
        self.unindexed = []
        self.unindexed_chars = 0

    def _write_resolved_conversation(self, rows: list[tuple[Any, ...]]) -> None:
        conn, file_id = self.conn, self.file_id
        conn.executemany(_CONVERSATION_SQL, [(*row, file_id, 0) for row in rows])
        ids = [row[0] for row in rows]
        # Topics and agents follow the row that won (an older export does not overwrite a newer one).
        _rederive(conn, ids)
        names = {c.name: i for i, c in enumerate(formats.CONVERSATION)}
        contact, primary, secondary = names["contact_id"], names["contact_primary"], names["contact_secondary"]
        found: list[Any] = []
        for row in rows:
            self._identifiers(row[contact], ((row[primary], "primary"), (row[secondary], "secondary")), found)
        conn.executemany(_IDENTIFIER_SQL, found)

    _write_open_conversation = _write_resolved_conversation

    def _write_message(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self.conn
        n = _MESSAGE_INDEX
        i_id, i_conv, i_created = n["id"], n["conversation_id"], n["created_ms"]
        if len(self.places) > MAX_SEEN:
            self.places.clear()
        # Every conversation gets a row (a stub until its conversation export arrives), hence a rid, first.
        new = {
            r[i_conv]: (
                r[i_conv], r[n["medium"]], r[n["channel"]], r[n["channel_display"]], r[n["contact_id"]],
                r[n["contact_primary"]], r[n["contact_secondary"]], r[i_created],
            )
            for r in rows
            if r[i_conv] not in self.places
        }  # fmt: skip
        if new:
            self._place(list(new.values()))
        # Fast path: messages are new (a file is mostly its own time range), so a plain INSERT of the batch. Should
        # one be in already (an overlapping export, a repeat in the file), the INSERT stops there: the rows before it
        # are in, and the rest are upserted. (No savepoint: it would make FTS5 flush its pending terms every batch.)
        out = self._rows_with_seq(rows, {})
        before = conn.total_changes
        try:
            conn.executemany(_MESSAGE_INSERT_SQL, out)
            stored = len(out)
        except sqlite3.IntegrityError:
            stored = conn.total_changes - before
        self._note_text(out[:stored])
        if stored < len(out):
            rest = rows[stored:]
            # The places the rest took are free again: look them up afresh (every conversation has its row now).
            touched = {row[i_conv] for row in rest}
            for cid in touched:
                del self.places[cid]
            self._place([(cid,) for cid in touched])
            self._upsert_messages(list({row[i_id]: row for row in rest}.values()))
        self._message_extras(rows)

    def _rows_with_seq(self, rows: list[tuple[Any, ...]], known: dict[str, int]) -> list[tuple[Any, ...]]:
        """The rows to store, each with its seq: a known message keeps its own, a new one gets the next place."""
        i_id, i_conv = _MESSAGE_INDEX["id"], _MESSAGE_INDEX["conversation_id"]
        places, pick, file_id = self.places, _PICK_STORED, self.file_id
        out: list[tuple[Any, ...]] = []
        for row in rows:
            seq = known.get(row[i_id])
            if seq is None:
                place = places[row[i_conv]]
                seq = place[0] + place[1]
                place[1] += 1
            out.append((seq, *pick(row), file_id))
        return out

    def _note_text(self, stored: list[tuple[Any, ...]]) -> None:
        """Queue the text of newly stored messages for the full-text index."""
        for row in stored:
            content = row[_STORED_CONTENT]
            if content is not None:
                self.unindexed.append((row[0], content))
                self.unindexed_chars += len(content)

    def _upsert_messages(self, rows: list[tuple[Any, ...]]) -> None:
        """Store rows some of which may be in already: those keep their seq and are re-indexed here."""
        conn = self.conn
        # The index must hold what the table holds before a known row's old text is taken out of it.
        self.index_text()
        ids = [row[_MESSAGE_INDEX["id"]] for row in rows]
        marks = ", ".join("?" * len(ids))
        known = dict(
            conn.execute(f"SELECT id, seq FROM messages WHERE id IN ({marks})", ids)  # noqa: S608 - placeholders
        )
        conn.executemany(_FTS_FORGET_SQL, [(seq,) for seq in known.values()])
        out = self._rows_with_seq(rows, known)
        conn.executemany(_MESSAGE_SQL, out)
        conn.executemany(_FTS_ADD_SQL, [(seq,) for seq in known.values()])
        old = set(known.values())
        self._note_text([row for row in out if row[0] not in old])

    def _message_extras(self, rows: list[tuple[Any, ...]]) -> None:
        """Agents and teams by name (what people say; the agent's id stays on the row), and tags, per conversation."""
        n, file_id, once, places = _MESSAGE_INDEX, self.file_id, self._once, self.places
        i_id, i_conv, i_agent, i_team, i_tags = (
            n["id"], n["conversation_id"], n["agent_name"], n["team_name"], n["tag_names"]
        )  # fmt: skip
        people: list[Any] = []
        tags: list[Any] = []
        for row in rows:
            conversation, agent, team = row[i_conv], row[i_agent], row[i_team]
            if agent and once(("agent", agent, conversation)):
                people.append(("agent", agent, places[conversation][0] >> SEQ_BITS, "m", file_id))
            if team and once(("team", team, conversation)):
                people.append(("team", team, places[conversation][0] >> SEQ_BITS, "m", file_id))
            if row[i_tags]:
                rid = places[conversation][0] >> SEQ_BITS
                tags.extend((tag, rid, row[i_id], file_id) for tag in split_list(row[i_tags]))
        self.conn.executemany(_PARTICIPANT_SQL, people)
        self.conn.executemany(_TAG_SQL, tags)

    def _place(self, stubs: list[tuple[Any, ...]]) -> None:
        """Give conversations this file has not touched yet a row, and note their rid and next free seq."""
        for start in range(0, len(stubs), 500):
            chunk = stubs[start : start + 500]
            ids = [stub[0] for stub in chunk]
            marks = ", ".join("?" * len(ids))
            sql = f"SELECT id, rid FROM conversations WHERE id IN ({marks})"  # noqa: S608 - placeholders
            existing = dict(self.conn.execute(sql, ids))
            fresh = [stub for stub in chunk if stub[0] not in existing]
            self.conn.executemany(_STUB_SQL, fresh)
            # A conversation's contact is the same on all its messages: its identifiers are noted once, here.
            found: list[Any] = []
            for stub in fresh:
                self._identifiers(stub[4], ((stub[5], "primary"), (stub[6], "secondary")), found)
            self.conn.executemany(_IDENTIFIER_SQL, found)
            for cid, rid in self.conn.execute(sql, ids):
                base = rid << SEQ_BITS
                last = None
                if cid in existing:
                    # Messages of it may be in already (another file): continue after the last one.
                    last = self.conn.execute(
                        "SELECT seq FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT 1", (base + (1 << SEQ_BITS),)
                    ).fetchone()
                    last = last[0] if last and last[0] >= base else None
                self.places[cid] = [base, 0 if last is None else last - base + 1]

    def _write_response_times(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(_RESPONSE_SQL, [(*row, self.file_id) for row in rows])

    def _write_contact(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(_CONTACT_SQL, [(*row, self.file_id) for row in rows])
        found: list[Any] = []
        for row in rows:
            self._identifiers(row[0], ((row[2], "primary"), (row[3], "secondary")), found)
        self.conn.executemany(_IDENTIFIER_SQL, found)

    def _write_contact_attribute(self, rows: list[tuple[Any, ...]]) -> None:
        # contact_id, primary, secondary, attribute_id, attribute_name, value, attribute_type
        self.conn.executemany(
            _ATTRIBUTE_SQL, [(r[0], r[4], r[3], r[5], r[6], self.file_id) for r in rows if r[4] is not None]
        )
        found: list[Any] = []
        for r in rows:
            self._identifiers(
                r[0], ((r[1], "primary"), (r[2], "secondary"), (r[5], f"attribute: {(r[4] or '')[:40]}")), found
            )
        self.conn.executemany(_IDENTIFIER_SQL, found)

    def _catalog(self, rows: list[Any], email: bool = False) -> None:
        out = []
        for row, extra in rows:
            out.append((self.kind, row[0], row[1], row[2] if email else None, extra, self.file_id))
        self.conn.executemany(_CATALOG_SQL, out)

    def _write_team(self, rows: list[tuple[Any, ...]]) -> None:
        self._catalog(rows)

    _write_topic = _write_tag = _write_team

    def _write_user(self, rows: list[tuple[Any, ...]]) -> None:
        self._catalog(rows, email=True)

    def _write_user_presence(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            _PRESENCE_SQL, [(r[0], r[1], r[2] or "", r[3], r[4], r[5], r[6], self.file_id) for r in rows]
        )


_CATALOG_KINDS = ("team", "topic", "tag", "user")


def _rederive(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Topics and agent/team participants of these conversations, from their stored rows."""
    marks = ", ".join("?" * len(ids))
    query = (
        "SELECT rid, topic_names, lsc_agent_name, resolved_agent_name, lsc_team_name"  # noqa: S608 - placeholders
        f" FROM conversations WHERE id IN ({marks})"
    )
    rows = conn.execute(query, ids).fetchall()
    rids = [(row[0],) for row in rows]
    conn.executemany("DELETE FROM conversation_topics WHERE rid = ?", rids)
    conn.executemany("DELETE FROM participants WHERE rid = ? AND source = 'c'", rids)
    topics: list[tuple[str, int]] = []
    people: list[tuple[str, str, int, str, None]] = []
    for rid, names, *who in rows:
        topics.extend((name[:200], rid) for name in dict.fromkeys(split_list(names)))
        for kind, value in zip(("agent", "agent", "team"), who, strict=True):
            if value:
                people.append((kind, value, rid, "c", None))
    conn.executemany("INSERT OR IGNORE INTO conversation_topics (topic, rid) VALUES (?, ?)", topics)
    conn.executemany(_PARTICIPANT_SQL, people)


def _forget_file(conn: sqlite3.Connection, file_id: int) -> None:
    """Remove every row a file contributed, before it is imported again.

    Conversation rows are the exception: their rid places their messages (which other files may hold), so they are
    marked as stubs, which the file's new rows overwrite whatever their Last Updated says.
    """
    conn.execute("UPDATE conversations SET stub = 1, file_id = NULL WHERE file_id = ?", (file_id,))
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', seq, content FROM messages"
        " WHERE file_id = ? AND content IS NOT NULL",
        (file_id,),
    )
    for table in FILE_TABLES:
        if table == "conversations":
            continue
        conn.execute(f"DELETE FROM {table} WHERE file_id = ?", (file_id,))  # noqa: S608 - a constant table name


class Importer:
    """Imports the files of one source into one archive connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        source: Source,
        times: Times,
        progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.conn = conn
        self.source = source
        self.times = times
        self.progress = progress
        self.clock = clock

    def run(self, on_file: Callable[[FileResult], None] | None = None) -> ImportSummary:
        """Import every new or changed file of the source (unchanged ones are skipped), telling `on_file` each."""
        started = self.clock()
        files = self.source.list()
        results = []
        # The WAL is copied into the database after each file (SQLite's automatic checkpoint at a commit), not once
        # at the end: a page read that misses the cache searches the WAL's index, which grows with the WAL, and
        # appending to an ever longer WAL costs the file system more than rewriting a short one (1M messages:
        # measured in bench/archive.py). Committed files are safe in the WAL either way.
        #
        # The cyclic garbage collector is paused: an import allocates millions of tuples and lists, none in a
        # cycle, and each generation-0 pass walks them to find none (a few percent of the import's CPU).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for index, f in enumerate(files, 1):
                results.append(self.import_file(f, index, len(files)))
                if on_file is not None:
                    on_file(results[-1])
            if any(r.status == "imported" for r in results):
                self._finish()
        finally:
            if gc_was_enabled:
                gc.enable()
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ImportSummary(results, self.clock() - started)

    def _finish(self) -> None:
        """What needs every file in: response times get their team, and the reports' weekly sums are rebuilt."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Response-time rows name the agent, not the team: it comes from the outbound message.
            self.conn.execute(
                "UPDATE response_times SET team_name = (SELECT team_name FROM messages WHERE messages.id = outbound_id)"
                " WHERE team_name IS NULL"
            )
            rollup.rebuild(self.conn)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def import_file(self, f: ExportFile, index: int = 1, total: int = 1) -> FileResult:
        """Import one file in one transaction, unless it is unchanged since it was last imported."""
        known = self.conn.execute("SELECT id, size, mtime_ns FROM imports WHERE path = ?", (f.path,)).fetchone()
        if known and known[1] == f.size and known[2] == f.mtime_ns:
            kind = self.conn.execute("SELECT export_type FROM imports WHERE id = ?", (known[0],)).fetchone()[0]
            return FileResult(f.path, kind, "unchanged")
        encoding: str | None = None
        for _attempt in range(2):
            try:
                return self._import(f, known[0] if known else None, encoding, index, total)
            except Retry as retry:
                encoding = retry.encoding
        raise AssertionError("unreachable: the second attempt reads as cp1252, which cannot fail")

    def _import(self, f: ExportFile, old_id: int | None, encoding: str | None, index: int, total: int) -> FileResult:
        started = self.clock()
        conn = self.conn
        stream: CsvStream | None = None
        result = FileResult(f.path, formats.type_from_folder(f.folder) or formats.type_from_name(f.name), "imported")
        conn.execute("BEGIN IMMEDIATE")
        try:
            stream = open_csv(self.source.open(f.path), encoding)
            result.encoding = stream.encoding
            header = next(stream.reader, None)
            if header is None or not any(h.strip() for h in header):
                raise _Skip("empty file: no header row")
            keys = {formats.header_key(h) for h in header}
            kind: ExportType | None = result.export_type or formats.type_from_headers(keys)
            if kind is None:
                result.status = "unknown"
                raise _Skip("not a recognised Sparkcentral export (folder, file name and headers say nothing)")
            result.export_type = kind
            plan = make_plan(header, COLUMNS[kind])
            if plan.missing:
                names = ", ".join(repr(c.headers[0]) for c in plan.missing)
                raise _Skip(f"the header lacks the required column(s) {names} of a {kind} export")
            if old_id is not None:
                _forget_file(conn, old_id)
            file_id = conn.execute(
                "INSERT INTO imports (path, export_type, size, mtime_ns, rows, skipped, seconds, imported_at)"
                " VALUES (?, ?, ?, ?, 0, 0, 0, 0) ON CONFLICT(path) DO UPDATE SET export_type = excluded.export_type"
                " RETURNING id",
                (f.path, kind, f.size, f.mtime_ns),
            ).fetchone()[0]
            self._rows(stream, plan, kind, file_id, result, f, index, total)
            if self.source.stat(f.path) != (f.size, f.mtime_ns) or stream.counter.count != f.size:
                raise FileChanged
            result.seconds = self.clock() - started
            conn.execute(
                "UPDATE imports SET size = ?, mtime_ns = ?, encoding = ?, rows = ?, skipped = ?, seconds = ?,"
                " imported_at = ?, examples = ? WHERE id = ?",
                (
                    f.size,
                    f.mtime_ns,
                    stream.encoding,
                    result.rows,
                    result.skipped,
                    result.seconds,
                    time.time(),
                    json.dumps([[p.line, p.reason] for p in result.examples]),
                    file_id,
                ),
            )
            conn.execute("COMMIT")
            return result
        except UnicodeDecodeError:
            conn.execute("ROLLBACK")
            raise Retry("cp1252") from None
        except FileChanged:
            conn.execute("ROLLBACK")
            return FileResult(
                f.path,
                result.export_type,
                "changed",
                message="the file changed while it was read; nothing of it was kept, it is read again next time",
            )
        except _Skip as skip:
            conn.execute("ROLLBACK")
            status: Status = "unknown" if result.status == "unknown" else "failed"
            return FileResult(f.path, result.export_type, status, encoding=result.encoding, message=str(skip))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if stream is not None:
                stream.close()

    def _rows(
        self,
        stream: CsvStream,
        plan: Any,
        kind: ExportType,
        file_id: int,
        result: FileResult,
        f: ExportFile,
        index: int,
        total: int,
    ) -> None:
        convert = converter(plan, self.times)
        batch = _Batch(self.conn, kind, file_id, plan.extras)
        catalog = kind in _CATALOG_KINDS
        extras = plan.extras
        reader = stream.reader
        rows = batch.rows
        report = self.progress
        line_num = 0
        counter: Any = reader  # the csv reader, whose line_num says where it is
        while True:
            # Where the next row starts, for the examples of skipped rows (a quoted field may span lines).
            line = line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # A broken quote: the csv module names the problem without quoting the text.
                self._skip(result, line, f"unreadable CSV ({str(exc)[:80]})")
                continue
            finally:
                line_num = counter.line_num
            if not any(row):
                continue  # blank lines between rows are not data
            try:
                values = convert(row)
            except RowError as exc:
                self._skip(result, line, str(exc))
                continue
            if catalog:
                metrics = {name: row[i] for i, name in extras if i < len(row) and row[i].strip()}
                rows.append((values, json.dumps(metrics, ensure_ascii=False) if metrics else None))
            else:
                rows.append(values)
            result.rows += 1
            if len(rows) >= BATCH_ROWS:
                batch.flush()
                rows = batch.rows
                if report is not None:
                    report(Progress(index, total, f.path, stream.counter.count, f.size))
        batch.flush(final=True)
        if report is not None:
            report(Progress(index, total, f.path, stream.counter.count, f.size))

    @staticmethod
    def _skip(result: FileResult, line: int, reason: str) -> None:
        result.skipped += 1
        if len(result.examples) < MAX_EXAMPLES:
            result.examples.append(Problem(line, reason))


class _Skip(Exception):
    """This file cannot be imported as it is; the message says why."""
