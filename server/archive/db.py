"""The archive database: one SQLite file per archive source, WAL mode, owner-only, with an FTS5 message index."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from server.ledger import default_ledger_path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    export_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    encoding TEXT,
    rows INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    seconds REAL NOT NULL,
    imported_at REAL NOT NULL,
    examples TEXT
);
CREATE TABLE IF NOT EXISTS conversations (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file_id INTEGER,
    stub INTEGER NOT NULL DEFAULT 0,
    medium TEXT COLLATE NOCASE,
    channel TEXT COLLATE NOCASE,
    channel_display TEXT COLLATE NOCASE,
    contact_id TEXT,
    contact_primary TEXT,
    contact_secondary TEXT,
    created_ms INTEGER,
    lsc_agent_id TEXT,
    lsc_agent_name TEXT,
    lsc_team_id TEXT,
    lsc_team_name TEXT,
    status TEXT COLLATE NOCASE,
    resolved_by TEXT,
    resolve_reason TEXT COLLATE NOCASE,
    resolve_comment TEXT,
    resolve_trigger TEXT,
    resolved_ms INTEGER,
    resolved_agent_id TEXT,
    resolved_agent_name TEXT,
    inbound INTEGER,
    outbound INTEGER,
    first_response_s REAL,
    handle_s REAL,
    resolution_s REAL,
    topic_ids TEXT,
    topic_names TEXT,
    url TEXT,
    updated_ms INTEGER,
    language TEXT,
    csat INTEGER,
    csat_status TEXT,
    csat_question TEXT,
    csat_answer TEXT
);
CREATE INDEX IF NOT EXISTS conversations_by_created ON conversations (created_ms);
CREATE INDEX IF NOT EXISTS conversations_by_contact ON conversations (contact_id, created_ms);
-- A message's seq is its conversation's rid << 20 plus its place in that conversation: a conversation's messages
-- are one range of the table (read without another index), and the full-text index, whose rowid is seq, yields the
-- conversations of its matches (rowid >> 20) without looking a single message up. The conversation's channel and
-- contact live on its row, not on each message.
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file_id INTEGER,
    conversation_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    medium TEXT,
    message_type TEXT,
    direction TEXT,
    agent_id TEXT,
    agent_name TEXT,
    team_name TEXT,
    tag_names TEXT,
    content TEXT,
    updated_ms INTEGER,
    deleted_ms INTEGER
);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
);
-- The importer keeps the index in step itself, in bulk: per-row triggers made it 5x slower (FTS5 flushes its
-- pending terms at every nested statement), and automatic merges during an import cost more than they save.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
-- Filters and reports join on a conversation's rid (an integer), not its text id.
CREATE TABLE IF NOT EXISTS conversation_topics (
    topic TEXT NOT NULL COLLATE NOCASE,
    rid INTEGER NOT NULL,
    PRIMARY KEY (topic, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topics_by_conversation ON conversation_topics (rid);
CREATE TABLE IF NOT EXISTS message_tags (
    tag TEXT NOT NULL COLLATE NOCASE,
    rid INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    file_id INTEGER,
    PRIMARY KEY (tag, rid, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS participants (
    kind TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    rid INTEGER NOT NULL,
    source TEXT NOT NULL,
    file_id INTEGER,
    PRIMARY KEY (kind, name, rid, source)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS participants_by_conversation ON participants (rid);
CREATE TABLE IF NOT EXISTS identifiers (
    kind TEXT NOT NULL,
    norm TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    raw TEXT NOT NULL,
    source TEXT NOT NULL,
    file_id INTEGER,
    PRIMARY KEY (kind, norm, contact_id, file_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_by_contact ON identifiers (contact_id);
CREATE TABLE IF NOT EXISTS contacts (
    contact_id TEXT PRIMARY KEY,
    medium TEXT,
    contact_primary TEXT,
    contact_secondary TEXT,
    created_ms INTEGER,
    conversations INTEGER,
    updated_ms INTEGER,
    file_id INTEGER
);
CREATE TABLE IF NOT EXISTS contact_attributes (
    contact_id TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    attribute_id TEXT,
    value TEXT,
    attribute_type TEXT,
    file_id INTEGER,
    PRIMARY KEY (contact_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS response_times (
    conversation_id TEXT NOT NULL,
    outbound_id TEXT NOT NULL,
    inbound_id TEXT,
    medium TEXT,
    channel TEXT,
    channel_display TEXT,
    contact_id TEXT,
    started_by TEXT,
    handover_reason TEXT,
    from_ms INTEGER,
    to_ms INTEGER,
    response_s REAL,
    agent_id TEXT,
    agent_name TEXT,
    team_name TEXT,
    file_id INTEGER,
    PRIMARY KEY (conversation_id, outbound_id)
) WITHOUT ROWID;
-- Reports read these sums per week instead of every row: rebuilt after each import that changed something.
CREATE TABLE IF NOT EXISTS report_rollup (
    metric TEXT NOT NULL,
    dimension TEXT NOT NULL,
    week TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    total REAL NOT NULL,
    lowest REAL,
    highest REAL,
    satisfied INTEGER,
    PRIMARY KEY (metric, dimension, week, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    email TEXT,
    data TEXT,
    file_id INTEGER,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence (
    user_id TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    presence TEXT NOT NULL DEFAULT '',
    user_name TEXT,
    away_state TEXT,
    to_ms INTEGER,
    duration_s REAL,
    file_id INTEGER,
    PRIMARY KEY (user_id, from_ms, presence)
) WITHOUT ROWID;
"""

# Tables whose rows a file contributed, by file, so a changed file's rows can be replaced.
FILE_TABLES = (
    "conversations",
    "messages",
    "message_tags",
    "participants",
    "identifiers",
    "contacts",
    "contact_attributes",
    "response_times",
    "catalog",
    "presence",
)


# The page size of a new archive file.
PAGE_SIZE = 16384

# Room for 2**20 messages per conversation in its seq range.
SEQ_BITS = 20


class ArchiveUnavailable(Exception):
    """The archive database cannot be used here; the message says why and what to do."""


def default_archive_path(source: str) -> Path:
    """Where the archive of one source lives: beside the quota ledger, named by a hash of the source."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return default_ledger_path().parent / f"archive-{digest}.sqlite3"


def check_fts5() -> None:
    """Raise ArchiveUnavailable if this Python's SQLite lacks FTS5 (the full-text index needs it)."""
    conn = sqlite3.connect(":memory:")
    try:
        options = {row[0] for row in conn.execute("PRAGMA compile_options")}
    finally:
        conn.close()
    if "ENABLE_FTS5" not in options:
        raise ArchiveUnavailable(
            f"this Python's SQLite ({sqlite3.sqlite_version}) was built without FTS5, which the archive's full-text "
            "index needs; use a Python build whose sqlite3 has it (the python.org and distribution builds do)"
        )


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating if needed, owner-only) the archive at `path` with its schema; `readonly` refuses writes."""
    if readonly:
        if not path.exists():
            raise ArchiveUnavailable(f"no archive at {path} yet: run `sprinklr-mcp archive import` first")
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA query_only = ON")
        return conn
    check_fts5()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created owner-only from its first byte; SQLite gives its -wal and -shm files the database file's mode.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    # 16 KiB pages for a new archive (an existing one keeps its size): a shallower B-tree and a quarter of the WAL
    # frames per byte imported (1M messages imported ~10% faster than with 4 KiB; bench/archive.py).
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL with NORMAL survives a process crash (a committed file stays committed); only power loss could lose one.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MB of page cache: a big file's transaction spills less often
    conn.execute("PRAGMA temp_store = MEMORY")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        conn.close()
        raise ArchiveUnavailable(
            f"the archive at {path} has schema version {version}, this server knows {SCHEMA_VERSION}: "
            "delete the file and import again"
        )
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn
