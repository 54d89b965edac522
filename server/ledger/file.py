"""A ledger in an SQLite file (WAL mode), shared by every server process of one user on one machine.

The file lives under the account's home directory (not wherever HOME or XDG_CACHE_HOME point: MCP hosts set those
differently, and two hosts' servers must still share one budget). It survives a messy environment:

- deleted or replaced while in use (a cache cleaner): before each transaction the path's files are compared with
  the ones this process has open (three stat calls); on a change the process reopens the path, and writes what it
  remembers of its own last hour (hits, pauses, tokens) into the new file, so no live process's calls are forgotten;
- left behind half-deleted (the database gone, its -wal and -shm still held open by other processes): those are
  cleared before a new database is made, or SQLite would take them for the new file's and fail for as long as any
  old process lives;
- corrupt (garbage, truncated): moved aside to `<name>.corrupt` and made anew, with one warning; its history is lost.

Creating and setting aside take a lock on the directory, so processes doing it at once do it once.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
import platformdirs

from server.ledger.base import (
    HOUR,
    NO_TRIP,
    PROBE_LEASE,
    TokenRecord,
    Trip,
    Usage,
    after_answer,
    decide,
    next_pause,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")
APP_DIR = "sprinklr-mcp"
FILE_NAME = "ledger.sqlite3"
# SQLite's own companions of a WAL database; they belong to whichever database file had them open.
_COMPANIONS = ("-wal", "-shm")
# SQLITE_CORRUPT and SQLITE_NOTADB: the file is damaged or not a database at all.
_CORRUPT_CODES = (11, 26)
# Hits of keys nobody uses any more are swept out this often (seconds, on the callers' clock).
_SWEEP_EVERY = 600.0


def default_ledger_path() -> Path:
    """The ledger file in the account's cache directory, shared by every server process of this user.

    On POSIX the home directory comes from the user database (pwd), not from HOME or XDG_CACHE_HOME, which MCP hosts
    set differently: `<home>/.cache/sprinklr-mcp/ledger.sqlite3` (`<home>/Library/Caches/...` on macOS). Windows
    has no such variables to disagree on: platformdirs' local cache directory. An account without a home in the user
    database (some containers) falls back to platformdirs.
    """
    if sys.platform == "win32":
        return Path(platformdirs.user_cache_dir(APP_DIR, appauthor=False)) / FILE_NAME
    try:
        import pwd

        home = pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        home = ""
    if not home or not os.path.isabs(home):
        return Path(platformdirs.user_cache_dir(APP_DIR)) / FILE_NAME
    caches = Path(home, "Library", "Caches") if sys.platform == "darwin" else Path(home, ".cache")
    return caches / APP_DIR / FILE_NAME


_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL, held_until REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS hits_by_key_time ON hits (key, at);
CREATE TABLE IF NOT EXISTS trips (
    key TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT, streak INTEGER NOT NULL DEFAULT 0,
    probe_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    key TEXT PRIMARY KEY, access_token TEXT NOT NULL, refresh_token TEXT, version INTEGER NOT NULL,
    saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""
# Columns added since the first version of the file; a file made by that version gets them on open, and then the
# indexes that use them.
_ADDED_COLUMNS = {
    "hits": (("held_until", "REAL NOT NULL DEFAULT 0"),),
    "trips": (("streak", "INTEGER NOT NULL DEFAULT 0"), ("probe_until", "REAL NOT NULL DEFAULT 0")),
}
_ADDED_INDEXES = "CREATE INDEX IF NOT EXISTS hits_in_flight ON hits (key, held_until) WHERE held_until > 0"
# The second's window: hits after the bound at their stamp (in-flight ones at now at the earliest), and hits in
# flight since before the bound at now; counted (with the hour's hits) in one statement, looked up only when full.
_COUNTS = """
SELECT (SELECT COUNT(*) FROM hits WHERE key = :key AND at > :bound)
     + (SELECT COUNT(*) FROM hits WHERE key = :key AND held_until > 0 AND held_until > :now AND at <= :bound),
       (SELECT COUNT(*) FROM hits WHERE key = :key)
"""
_NTH_RECENT = """
SELECT CASE WHEN held_until > :now AND at < :now THEN :now ELSE at END AS moment
  FROM hits WHERE key = :key AND at > :bound
UNION ALL
SELECT :now FROM hits WHERE key = :key AND held_until > 0 AND held_until > :now AND at <= :bound
ORDER BY moment LIMIT 1 OFFSET :index
"""

# (st_dev, st_ino) of the database, its -wal and its -shm; None where a file is missing.
_Identity = tuple[tuple[int, int] | None, ...]


def _identity(path: Path) -> _Identity:
    found: list[tuple[int, int] | None] = []
    for suffix in ("", *_COMPANIONS):
        try:
            stat = os.stat(f"{path}{suffix}")
        except (FileNotFoundError, NotADirectoryError):
            found.append(None)
        else:
            found.append((stat.st_dev, stat.st_ino))
    return tuple(found)


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _CORRUPT_CODES
    message = str(exc)
    return "malformed" in message or "not a database" in message


@contextmanager
def _directory_lock(directory: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `directory` among this user's processes (flock; not on Windows, see below)."""
    try:
        import fcntl
    except ImportError:  # Windows: a file in use cannot be deleted there, so no process ever needs to remake it
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    held = f"another process held the lock on {directory} for over {timeout:.0f} s"
                    raise TimeoutError(held) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # and with it the lock


def _read_trip(conn: sqlite3.Connection, key: str) -> Trip:
    row = conn.execute("SELECT until, reason, streak, probe_until FROM trips WHERE key = ?", (key,)).fetchone()
    return Trip(*row) if row else NO_TRIP


def _write_trip(conn: sqlite3.Connection, key: str, trip: Trip) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO trips (key, until, reason, streak, probe_until) VALUES (?, ?, ?, ?, ?)",
        (key, trip.until, trip.reason, trip.streak, trip.probe_until),
    )


class _Recollection:
    """What this process wrote to the ledger in the last hour: enough to write it again into a file that replaced it."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = {}
        # Hits still in flight (reserved, not yet settled): a new file must hold them as the old one did, or a call
        # sent before the old file was deleted but counted by Sprinklr later would be forgotten while in flight.
        self.held: dict[tuple[str, float], float] = {}
        self.trips: dict[str, Trip] = {}
        self.tokens: dict[str, TokenRecord] = {}

    def hit(self, key: str, at: float, held_until: float = 0.0) -> None:
        hits = self.hits.setdefault(key, [])
        bisect.insort(hits, at)
        del hits[: bisect.bisect_right(hits, hits[-1] - HOUR)]
        if held_until:
            self.held[(key, at)] = held_until
            if len(self.held) > 256:  # calls whose settle never came (a failing ledger): their hold has lapsed
                self.held = {stamp: until for stamp, until in self.held.items() if until > at}

    def moved(self, key: str, reserved: float, done: float) -> None:
        self.held.pop((key, reserved), None)
        hits = self.hits.get(key, [])
        index = bisect.bisect_left(hits, reserved)
        if index < len(hits) and hits[index] == reserved and done > reserved:
            del hits[index]
            bisect.insort(hits, done)

    def token(self, key: str, record: TokenRecord) -> None:
        known = self.tokens.get(key)
        if known is None or record.version >= known.version:
            self.tokens[key] = record

    def replay(self, conn: sqlite3.Connection) -> None:
        """Write everything remembered into `conn`'s file, which did not have it (in the caller's transaction)."""
        for key, hits in self.hits.items():
            rows = [(key, at, self.held.get((key, at), 0.0)) for at in hits]
            conn.executemany("INSERT INTO hits (key, at, held_until) VALUES (?, ?, ?)", rows)
        for key, trip in self.trips.items():
            if trip.until > _read_trip(conn, key).until:
                _write_trip(conn, key, trip)
        for key, record in self.tokens.items():
            conn.execute(
                "INSERT INTO tokens (key, access_token, refresh_token, version, saved_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET access_token = excluded.access_token, "
                "refresh_token = excluded.refresh_token, version = excluded.version, saved_at = excluded.saved_at "
                "WHERE excluded.version > tokens.version",
                (key, record.access_token, record.refresh_token, record.version, record.saved_at),
            )


class FileLedger:
    """A ledger in an SQLite file (WAL mode), shared safely by every process of the user on this machine.

    Each process keeps one connection; every reserve is one short `BEGIN IMMEDIATE` transaction that also prunes
    hits older than an hour, so the file stays small. The file holds tokens and is created readable by its owner only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 10.0,
        lease_seconds: float = 120.0,
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.time,
        new_file_grace: float = 0.0,
    ) -> None:
        """`new_file_grace`: seconds a newly made database grants nothing (see _grace); the server uses a window."""
        self._path = Path(path) if path is not None else default_ledger_path()
        self._busy_timeout = busy_timeout
        # Far longer than a token refresh takes (the HTTP timeout defaults to 30 s), so a lease only expires when
        # its holder died without releasing it.
        self._lease_seconds = lease_seconds
        self._poll = poll_interval
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        # The files the connection was opened on; kept after it closes, to tell a new database from the same one.
        self._known: _Identity | None = None
        # Set when the path was found to hold another database than ours; cleared once it has been given our record.
        self._owes_replay = False
        # One connection per process, used from worker threads one call at a time; it also guards _own.
        self._conn_lock = threading.Lock()
        self._own = _Recollection()
        self._last_sweep = float("-inf")
        self._new_file_grace = new_file_grace

    @property
    def path(self) -> Path:
        """Where the ledger file lives."""
        return self._path

    @property
    def location(self) -> str:
        """The ledger file's path."""
        return str(self._path)

    def degraded(self) -> None:
        """Never said here: a failing file raises, and FallbackLedger reports it."""
        return None

    # -- the connection -----------------------------------------------------------------------------------------

    def _current(self) -> sqlite3.Connection:
        """This process's connection, reopened first if the path's files are no longer the ones it has open."""
        if self._conn is not None:
            seen = _identity(self._path)
            if seen != self._known:
                log.info("the quota ledger %s was deleted or replaced; reopening it", self._path)
                # Told apart while the old connection still holds its file: a closed file's inode number can be
                # given to the next new file at once.
                self._owes_replay |= self._known is None or seen[0] != self._known[0]
                self._reopen()
        if self._conn is None:
            self._reopen()
        assert self._conn is not None
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _reopen(self, corrupt: sqlite3.Error | None = None) -> None:
        """Open the path afresh, closing the old connection (if any) only afterwards, for the reason above."""
        old, self._conn = self._conn, None
        try:
            self._connect(corrupt)
        finally:
            if old is not None:
                with contextlib.suppress(sqlite3.Error):
                    old.close()

    def _connect(self, corrupt: sqlite3.Error | None) -> None:
        """Open the database at the path (making it if missing), and give a new one what this process remembers.

        With `corrupt`, the damaged database is first set aside, unless another process has done so already.
        """
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _directory_lock(self._path.parent, self._busy_timeout):
            seen = _identity(self._path)
            if corrupt is not None and self._known is not None and seen[0] == self._known[0]:
                self._set_aside(corrupt)
            elif self._known is not None and seen[0] != self._known[0]:
                # Another database was put in place of ours, beside the -wal and -shm ours still has open: SQLite
                # would read our old pages into it. Companions someone made since for the new one are left alone.
                for suffix, ours, present in zip(_COMPANIONS, self._known[1:], seen[1:], strict=True):
                    if present is not None and present == ours:
                        Path(f"{self._path}{suffix}").unlink(missing_ok=True)
            self._prepare()
            try:
                conn = self._open()
            except sqlite3.Error as exc:
                if not _is_corrupt(exc):
                    raise
                self._set_aside(exc)
                self._prepare()
                conn = self._open()
                self._owes_replay = True
            try:
                if self._owes_replay:
                    self._attempt(conn, self._own.replay)
            except BaseException:
                conn.close()
                raise
            identity = _identity(self._path)
        self._conn, self._known, self._owes_replay = conn, identity, False

    def _prepare(self) -> None:
        """Make sure an owner-only file is at the path, clearing what a deleted database left behind."""
        try:
            mode = os.stat(self._path).st_mode
        except FileNotFoundError:
            # Other processes may still hold the deleted database's -wal and -shm open; SQLite would take them for
            # the new file's and answer "disk I/O error" for as long as those processes live.
            for suffix in _COMPANIONS:
                Path(f"{self._path}{suffix}").unlink(missing_ok=True)
            # Made here, not by SQLite, so that it is owner-only from its first byte (its -wal and -shm get the
            # database file's permissions); a new inode, so closing this descriptor drops nobody's SQLite locks.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            return
        if mode & 0o077:
            os.chmod(self._path, 0o600)  # a file left by an older version or another tool

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout)
        try:
            # Switching to WAL takes a brief exclusive lock, which the busy handler does not always cover when many
            # processes open a new file at once; it is persistent, so only the first of them needs to succeed.
            for attempt in range(50):
                try:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    conn.executescript(_SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 49:
                        raise
                    time.sleep(0.01 * (attempt + 1))
            self._attempt(conn, _add_columns)
            # In WAL mode NORMAL survives a process crash; only a power loss could forget the last few hits.
            conn.execute("PRAGMA synchronous = NORMAL")

        except BaseException:
            conn.close()
            raise
        return conn

    def _grace(self, conn: sqlite3.Connection, now: float) -> float:
        """The wait a new database imposes: none once it is `new_file_grace` seconds old.

        A database made a moment ago knows nothing of the calls made just before it: a server still busy on a
        deleted one writes its hits here only at its next transaction, which may come after a newcomer's burst.
        Until one window has passed since the first call stamped on it, the window is taken to be full.
        """
        conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('first_call', ?)", (now,))
        first = float(conn.execute("SELECT value FROM meta WHERE name = 'first_call'").fetchone()[0])
        return max(0.0, first + self._new_file_grace - now) if now >= first else 0.0

    def _set_aside(self, exc: sqlite3.Error) -> None:
        """Move a damaged database to `<name>.corrupt` (replacing an older one) so that a new one can be made."""
        aside = self._path.with_name(self._path.name + ".corrupt")
        with contextlib.suppress(FileNotFoundError):
            os.replace(self._path, aside)
        for suffix in _COMPANIONS:
            Path(f"{self._path}{suffix}").unlink(missing_ok=True)
        log.warning(
            "the quota ledger %s could not be read (%s): moved it to %s and started a new one; the call counts, "
            "pauses and tokens it held are lost (each running server writes back what it remembers of its own)",
            self._path,
            exc,
            aside.name,
        )

    @staticmethod
    def _attempt(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` in one BEGIN IMMEDIATE transaction on this process's connection (in a worker thread)."""
        with self._conn_lock:
            try:
                return self._attempt(self._current(), work)
            except sqlite3.Error as exc:
                if not _is_corrupt(exc):
                    # A connection that failed is not trusted again: the next call opens the path afresh.
                    self._drop()
                    raise
                self._owes_replay = True
                self._reopen(corrupt=exc)
                assert self._conn is not None
                return self._attempt(self._conn, work)
            except OSError:
                self._drop()
                raise

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        return await anyio.to_thread.run_sync(self._transaction, work)

    # -- the ledger -----------------------------------------------------------------------------------------------

    async def reserve(
        self,
        key: str,
        now: float,
        per_second: int,
        per_hour: int,
        hour_ceiling: int,
        *,
        window: float = 1.0,
        probe_lease: float = PROBE_LEASE,
        hold: float = 0.0,
    ) -> float:
        """Record a hit at `now` and return 0.0 if both windows and any pause allow it; else the seconds to wait."""

        def work(conn: sqlite3.Connection) -> float:
            if now - self._last_sweep >= _SWEEP_EVERY:
                # Keys nobody uses any more (another API key, a sandbox long gone) are never pruned below.
                conn.execute("DELETE FROM hits WHERE at <= ?", (now - HOUR,))
                self._last_sweep = now
            conn.execute("DELETE FROM hits WHERE key = ? AND at <= ? AND held_until <= ?", (key, now - HOUR, now))
            where = {"now": now, "key": key, "bound": now - window}
            recent, total = conn.execute(_COUNTS, where).fetchone()
            trip = _read_trip(conn, key)

            def nth_recent(index: int) -> float:
                return float(conn.execute(_NTH_RECENT, {**where, "index": index}).fetchone()[0])

            def nth_oldest(index: int) -> float:
                row = conn.execute(
                    "SELECT at FROM hits WHERE key = ? ORDER BY at LIMIT 1 OFFSET ?", (key, index)
                ).fetchone()
                return float(row[0])

            ceiling = min(per_hour, hour_ceiling)
            wait, probe = decide(now, per_second, ceiling, window, trip, recent, nth_recent, total, nth_oldest)
            if wait == 0.0 and self._new_file_grace:
                wait = self._grace(conn, now)
            if wait == 0.0:
                held_until = now + hold if hold else 0
                conn.execute("INSERT INTO hits (key, at, held_until) VALUES (?, ?, ?)", (key, now, held_until))
                self._own.hit(key, now, held_until)
                if probe:
                    conn.execute("UPDATE trips SET probe_until = ? WHERE key = ?", (now + probe_lease, key))
            return wait

        return await self._run(work)

    async def settle(self, key: str, reserved: float, done: float, *, answered: bool | None = None) -> None:
        """Move one hit stamped `reserved` to `done`; after a pause, an answer ends the streak (see Ledger)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE hits SET at = ?, held_until = 0 WHERE rowid = "
                "(SELECT rowid FROM hits WHERE key = ? AND at = ? ORDER BY held_until DESC LIMIT 1)",
                (max(done, reserved), key, reserved),
            )
            self._own.moved(key, reserved, done)
            if answered is not None:
                changed = after_answer(_read_trip(conn, key), done, answered)
                if changed is not None:
                    _write_trip(conn, key, changed)
                    self._own.trips[key] = changed

        await self._run(work)

    async def trip(self, key: str, until: float, reason: str | None = None, *, now: float | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""

        def work(conn: sqlite3.Connection) -> None:
            current = _read_trip(conn, key)
            if until > current.until:
                trip = Trip(until, reason, current.streak, current.probe_until)
                _write_trip(conn, key, trip)
                self._own.trips[key] = trip

        await self._run(work)

    async def pause(
        self, key: str, now: float, reason: str, *, first: float, longest: float, at_least: float = 0.0
    ) -> tuple[float, int]:
        """Pause `key` after a rate-limit answer without Retry-After; return (until, streak)."""

        def work(conn: sqlite3.Connection) -> tuple[float, int]:
            trip = next_pause(now, _read_trip(conn, key), reason, first, longest, at_least)
            _write_trip(conn, key, trip)
            self._own.trips[key] = trip
            return trip.until, trip.streak

        return await self._run(work)

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any pause."""

        def work(conn: sqlite3.Connection) -> Usage:
            second, hour, oldest = conn.execute(
                "SELECT COALESCE(SUM(at > ?), 0), COUNT(*), MIN(at) FROM hits WHERE key = ? AND at > ?",
                (now - 1.0, key, now - HOUR),
            ).fetchone()
            trip = _read_trip(conn, key)
            return Usage(
                used_last_second=second,
                used_last_hour=hour,
                oldest_in_hour=oldest,
                tripped_until=trip.until,
                trip_reason=trip.reason,
                streak=trip.streak,
                probe_until=trip.probe_until,
            )

        return await self._run(work)

    async def restore(self, key: str, hits: Sequence[float], now: float) -> None:
        """Add hits this process made while the file could not record them."""
        recent = [at for at in hits if at > now - HOUR]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, at) for at in recent])
            for at in recent:
                self._own.hit(key, at)

        await self._run(work)

    async def get_token(self, key: str) -> TokenRecord | None:
        """The token pair last stored for `key`, if any."""

        def work(conn: sqlite3.Connection) -> TokenRecord | None:
            row = conn.execute(
                "SELECT access_token, refresh_token, version, saved_at FROM tokens WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            record = TokenRecord(*row)
            self._own.token(key, record)
            return record

        return await self._run(work)

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair for `key`, replacing the previous one."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO tokens (key, access_token, refresh_token, version, saved_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, record.access_token, record.refresh_token, record.version, record.saved_at),
            )
            self._own.token(key, record)

        await self._run(work)

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for a token refresh among every task and process using this file (a lease row)."""
        return self._lease(f"refresh:{key}")

    @asynccontextmanager
    async def _lease(self, name: str) -> AsyncIterator[None]:
        owner = uuid.uuid4().hex

        def try_acquire(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            row = conn.execute("SELECT expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] > now:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires) VALUES (?, ?, ?)",
                (name, owner, now + self._lease_seconds),
            )
            return True

        def release(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

        # Polling: the holder may be another process, which no in-process Event could hear from.
        while not await self._run(try_acquire):  # noqa: ASYNC110
            await anyio.sleep(self._poll)
        try:
            yield
        finally:
            # Released even when the holder is being cancelled, or the next refresh waits for the lease to expire.
            with anyio.CancelScope(shield=True):
                await self._run(release)

    async def aclose(self) -> None:
        """Close this process's connection."""

        def close() -> None:
            with self._conn_lock:
                self._drop()

        await anyio.to_thread.run_sync(close)


def _add_columns(conn: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version up to the current schema (in the caller's transaction)."""
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, declaration in columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    conn.execute(_ADDED_INDEXES)
