"""Importing Sparkcentral exports: the sandbox set, hostile files, idempotence, re-imports and crash safety."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from server.archive.db import PAGE_SIZE, check_fts5, connect
from server.archive.demo import DemoArchive
from server.archive.importer import Progress
from server.archive.store import ArchiveStore, ConversationSearch
from server.archive.values import Times
from tests.archive_support import (
    MESSAGE_HEADER,
    copy_exports,
    count,
    csv_text,
    demo,
    import_dir,
    message_rows,
)

__all__ = ["demo"]  # the session fixture, imported for pytest


def test_this_python_has_sqlite_with_fts5() -> None:
    check_fts5()
    conn = sqlite3.connect(":memory:")
    assert ("ENABLE_FTS5",) in conn.execute("PRAGMA compile_options").fetchall()


def test_the_sandbox_export_set_imports_with_the_counts_the_generator_wrote(demo: DemoArchive) -> None:
    written, db = demo.written, demo.archive_path
    assert all(f.status == "imported" for f in demo.imported.files), [f.line() for f in demo.imported.files]
    assert count(db, "messages") == written.rows["message"]
    assert count(db, "conversations") == written.rows["resolved-conversation"] + written.rows["open-conversation"]
    assert count(db, "response_times") == written.rows["response-times"]
    assert count(db, "contacts") == written.rows["contact"]
    assert count(db, "contact_attributes") == written.rows["contact-attribute"]
    assert count(db, "catalog") == sum(written.rows[k] for k in ("team", "user", "topic", "tag"))
    assert count(db, "presence") == written.rows["user-presence"]
    assert demo.imported.skipped == written.malformed == 4
    assert demo.imported.rows == sum(written.rows.values())
    # Twitter's scheduled export has no content column: those messages are kept, without text.
    assert count(db, "messages", "WHERE content IS NULL") == written.twitter_messages > 0


def test_malformed_rows_are_reported_by_line_and_reason_without_their_content(demo: DemoArchive) -> None:
    examples = [p for f in demo.imported.files for p in f.examples]
    reasons = " | ".join(p.reason for p in examples)
    assert "fields where the header has" in reasons
    assert "is not a valid Year-Month-Day HH:MM:SS.MS time" in reasons
    assert "'Message ID' is empty" in reasons
    assert all(p.line > 1 for p in examples)
    # The broken row's message text never appears in the report.
    assert "thanks for reaching out" not in reasons.lower()


def test_the_archive_file_is_owner_only_and_in_wal_mode(demo: DemoArchive) -> None:
    assert stat.S_IMODE(demo.archive_path.stat().st_mode) == 0o600
    conn = sqlite3.connect(demo.archive_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_import_reads_no_file_again(demo: DemoArchive, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    import_dir(demo.export_dir, db)
    before = count(db, "messages")
    second = import_dir(demo.export_dir, db)
    assert {f.status for f in second.files} == {"unchanged"}
    assert (second.rows, count(db, "messages")) == (0, before)


def test_a_changed_file_is_imported_again_and_its_old_rows_replaced(demo: DemoArchive, tmp_path: Path) -> None:
    folder = copy_exports(demo, tmp_path / "exports")
    db = tmp_path / "a.sqlite3"
    import_dir(folder, db)
    before = count(db, "messages")
    target = sorted(p for p in (folder / "message").glob("*.csv") if "twitter" not in p.name)[-1]
    header, *rows = _all_rows(target)
    old_text = rows[0][20]
    # The exporter rewrote the file: only its first ten rows remain, and the first one says something new.
    kept = [list(r) for r in rows[:10]]
    kept[0][20] = "zanzibarian quokka"
    target.write_text(csv_text([header, *kept]), encoding="utf-8")
    summary = import_dir(folder, db)
    assert [f.path for f in summary.files if f.status == "imported"] == [target.relative_to(folder).as_posix()]
    assert count(db, "messages") == before - len(rows) + 10
    store = ArchiveStore(db)
    assert store.search(ConversationSearch(text="zanzibarian quokka")).page.total == 1
    assert count(db, "messages", "WHERE content = ?", old_text) < count(
        demo.archive_path, "messages", "WHERE content = ?", old_text
    )


def _all_rows(path: Path) -> list[list[str]]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_headers_are_found_by_name_whatever_their_order_case_spacing_or_bom(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    header = ["  content", "DIRECTION", "conversation_id", "Created At (date/time)", "message id", "Unknown Extra"]
    rows = [[r[5], r[4], r[2], r[1], r[0], "extra"] for r in message_rows(3)]
    (folder / "m.csv").write_bytes(b"\xef\xbb\xbf" + csv_text([header, *rows], delimiter=";").encode())
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    assert summary.files[0].status == "imported", summary.files[0].line()
    assert summary.rows == 3
    conn = sqlite3.connect(tmp_path / "a.sqlite3")
    assert conn.execute("SELECT content, direction FROM messages WHERE id = 'm-0'").fetchone() == (
        "hello there 0",
        "Inbound",
    )


def test_an_excel_saved_cp1252_file_is_read_as_cp1252(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    rows = [MESSAGE_HEADER, *message_rows(2, text="José paid 20€ — Zoë")]
    (folder / "4711_message_x.csv").write_bytes(csv_text(rows).encode("cp1252"))
    summary = import_dir(folder, tmp_path / "a.sqlite3")
    assert summary.files[0].encoding == "cp1252"
    conn = sqlite3.connect(tmp_path / "a.sqlite3")
    assert conn.execute("SELECT content FROM messages WHERE id = 'm-1'").fetchone()[0] == "José paid 20€ — Zoë 1"


def test_a_cp1252_byte_past_the_sample_makes_the_file_read_again_as_cp1252(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    rows = [MESSAGE_HEADER, *message_rows(6000, text="plain ascii text " * 3), ["m-last", "2024-03-02 10:00:00.000",
            "cv-1", "Email", "Inbound", "caf\xe9"]]  # fmt: skip
    (folder / "4711_message_x.csv").write_bytes(csv_text(rows).encode("cp1252"))
    summary = import_dir(folder, tmp_path / "a.sqlite3")
    assert (summary.files[0].status, summary.files[0].encoding, summary.rows) == ("imported", "cp1252", 6001)
    assert count(tmp_path / "a.sqlite3", "messages") == 6001


def test_quoted_multi_line_content_and_a_five_megabyte_message_are_kept_whole(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    huge = "word " * (1024 * 1024)
    rows = [MESSAGE_HEADER, *message_rows(2, text='line one\nline two, "quoted"\n\nline four')]
    rows.append(["m-huge", "2024-03-01 11:00:00.000", "cv-1", "Email", "Inbound", huge])
    (folder / "m.csv").write_text(csv_text(rows), encoding="utf-8")
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    assert (summary.rows, summary.skipped) == (3, 0)
    conn = sqlite3.connect(tmp_path / "a.sqlite3")
    assert conn.execute("SELECT content FROM messages WHERE id = 'm-0'").fetchone()[0] == (
        'line one\nline two, "quoted"\n\nline four 0'
    )
    assert conn.execute("SELECT length(content) FROM messages WHERE id = 'm-huge'").fetchone()[0] == len(huge.strip())


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda text: text[: text.rindex("hello there 199") + 5], id="inside the last field"),
        pytest.param(lambda text: text[: text.rindex("m-199") + 3], id="in the first field of the last row"),
        pytest.param(lambda text: text[: text.rindex('"line') + 8], id="inside an open quote"),
    ],
)
def test_a_file_cut_off_mid_row_imports_its_whole_rows_and_skips_the_broken_one(tmp_path: Path, cut: object) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    rows = [MESSAGE_HEADER, *message_rows(199)]
    rows.append(["m-199", "2024-03-01 11:00:00.000", "cv-1", "Email", "Inbound", "line\nhello there 199 and more"])
    text = csv_text(rows)
    assert callable(cut)
    (folder / "m.csv").write_text(cut(text), encoding="utf-8")
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    result = summary.files[0]
    assert result.status == "imported"
    assert count(tmp_path / "a.sqlite3", "messages", "WHERE id != 'm-199'") == 199
    assert result.rows + result.skipped == 200
    conn = sqlite3.connect(tmp_path / "a.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')").rowcount != 0


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("message/empty.csv", b"", "failed", "empty file"),
        ("message/header-only.csv", csv_text([MESSAGE_HEADER]).encode(), "imported", None),
        ("flat-unknown.csv", csv_text([["Order", "Total"], ["1", "2"]]).encode(), "unknown", "not a recognised"),
        ("message/missing.csv", csv_text([["Message ID", "Content"], ["m", "x"]]).encode(), "failed", "lacks"),
    ],
)
def test_files_that_are_not_usable_exports_are_reported_and_leave_nothing_behind(
    tmp_path: Path, name: str, content: bytes, status: str, message: str | None
) -> None:
    path = tmp_path / "x" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    result = summary.files[0]
    assert result.status == status, result.line()
    if message:
        assert message in (result.message or "")
    assert count(tmp_path / "a.sqlite3", "messages") == 0
    if status != "imported":
        # Not recorded as imported: once fixed, the file is read on the next run.
        assert count(tmp_path / "a.sqlite3", "imports") == 0


def test_a_file_replaced_while_it_is_read_is_rolled_back_and_read_next_time(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    target = folder / "m.csv"
    target.write_text(csv_text([MESSAGE_HEADER, *message_rows(9000)]), encoding="utf-8")
    replaced = {"done": False}

    def replace_once(progress: Progress) -> None:
        # After the first batch is in the database, the exporter writes a new version of the file.
        if not replaced["done"]:
            replaced["done"] = True
            fresh = folder / "m.tmp"
            fresh.write_text(csv_text([MESSAGE_HEADER, *message_rows(50, text="second version")]), encoding="utf-8")
            os.replace(fresh, target)

    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3", progress=replace_once)
    assert replaced["done"]
    assert summary.files[0].status == "changed"
    assert count(tmp_path / "a.sqlite3", "messages") == 0
    assert count(tmp_path / "a.sqlite3", "imports") == 0
    again = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    assert (again.files[0].status, again.rows) == ("imported", 50)


def test_an_import_killed_mid_file_leaves_nothing_half_imported_and_the_next_run_completes(
    demo: DemoArchive, tmp_path: Path
) -> None:
    folder = copy_exports(demo, tmp_path / "exports")
    big = folder / "message" / "big.csv"
    big.write_text(csv_text([MESSAGE_HEADER, *message_rows(20_000, conversation="cv-big")]), encoding="utf-8")
    db = tmp_path / "a.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from tests.archive_support import import_dir

        def progress(p):
            # Killed outright, with no chance to roll back, in the middle of the big file.
            if p.path == "message/big.csv" and p.read > 100_000:
                os.kill(os.getpid(), signal.SIGKILL)

        import_dir(Path({str(folder)!r}), Path({str(db)!r}), progress=progress)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, check=False, timeout=300)
    assert done.returncode == -9
    assert count(db, "messages", "WHERE conversation_id = 'cv-big'") == 0
    assert count(db, "imports", "WHERE path = 'message/big.csv'") == 0
    finished_before = count(db, "imports")
    summary = import_dir(folder, db)
    assert sum(1 for f in summary.files if f.status == "unchanged") == finished_before
    assert count(db, "messages", "WHERE conversation_id = 'cv-big'") == 20_000
    assert count(db, "messages") == demo.written.rows["message"] + 20_000
    conn = connect(db)
    assert conn.execute(
        "SELECT count(*) FROM (SELECT id FROM messages GROUP BY id HAVING count(*) > 1)"
    ).fetchone() == (0,)
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_an_interrupted_import_rolls_back_the_file_it_was_reading(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    (folder / "m.csv").write_text(csv_text([MESSAGE_HEADER, *message_rows(9000)]), encoding="utf-8")
    from tests.archive_support import stop_at

    with pytest.raises(KeyboardInterrupt):
        import_dir(tmp_path / "x", tmp_path / "a.sqlite3", progress=stop_at(2))
    assert count(tmp_path / "a.sqlite3", "messages") == 0
    assert import_dir(tmp_path / "x", tmp_path / "a.sqlite3").rows == 9000


def test_times_are_read_in_the_exports_timezone_and_stored_as_utc() -> None:
    brussels = Times("Europe/Brussels")
    # Summer time (UTC+2), winter time (UTC+1), and the hour that happens twice when clocks go back.
    assert brussels.parse("2024-07-01 12:00:00.000") == 1719828000000
    assert brussels.parse("2024-01-15 12:00:00.250") == 1705316400250
    assert brussels.parse("2024-10-27 02:30:00.000") == 1729989000000
    utc = Times()
    assert utc.parse("2024-07-01 12:00:00.000") == 1719835200000
    assert utc.parse("2024-07-01T12:00:00Z") == utc.parse("2024-07-01 14:00:00+02:00") == 1719835200000
    assert utc.parse("2024/07/01 12:00") == 1719835200000
    for bad in ("01/07/2024 12:00", "2024-13-01 00:00:00.000", "2024-07-01 25:00:00.000", "yesterday"):
        with pytest.raises(ValueError, match="timestamp"):
            utc.parse(bad)


def test_a_message_in_two_overlapping_exports_is_stored_once_and_keeps_its_text(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(csv_text([MESSAGE_HEADER, *message_rows(10)]), encoding="utf-8")
    # The next export overlaps the first, without content (as Twitter's scheduled export), and repeats a row.
    later = [row[:5] for row in message_rows(10, start=5)]
    (folder / "b.csv").write_text(csv_text([MESSAGE_HEADER[:5], *later, later[-1]]), encoding="utf-8")
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    assert [f.status for f in summary.files] == ["imported", "imported"]
    db = tmp_path / "a.sqlite3"
    assert count(db, "messages") == 15
    assert count(db, "messages", "WHERE id = 'm-7' AND content = 'hello there 7'") == 1
    store = ArchiveStore(db)
    assert store.search(ConversationSearch(text="hello there")).page.total == 1
    read = store.conversation("cv-1", limit=100)
    assert read is not None
    assert [m.id for m in read.messages.items] == [f"m-{i}" for i in range(15)]
    conn = connect(db)
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'hello'").fetchone()[0] == 10


def test_a_message_repeated_in_one_file_keeps_its_last_text_and_a_consistent_index(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    rows = message_rows(3000, text="first words")
    repeat = [*rows[10][:5], "second thoughts"]
    (folder / "a.csv").write_text(csv_text([MESSAGE_HEADER, *rows, repeat]), encoding="utf-8")
    summary = import_dir(tmp_path / "x", tmp_path / "a.sqlite3")
    assert (summary.rows, summary.skipped) == (3001, 0)
    db = tmp_path / "a.sqlite3"
    assert count(db, "messages") == 3000
    assert count(db, "messages", "WHERE id = 'm-10' AND content = 'second thoughts'") == 1
    conn = connect(db)
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'first'").fetchone()[0] == 2999
    assert conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'second'").fetchone()[0] == 1


def _interleaved(conversations: dict[str, str], per: int, *, prefix: str) -> list[list[str]]:
    """Rows of several conversations in time order, one message of each in turn (as a real export interleaves)."""
    rows = []
    for i in range(per):
        for cid, word in conversations.items():
            rows.append([f"{prefix}-{cid}-{i}", f"2024-03-01 10:{i % 60:02d}:00.000", cid, "Email", "Inbound", word])
    return rows


def _fts_count(db: Path, query: str) -> int:
    conn = connect(db)
    try:
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        return int(conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (query,)).fetchone()[0])
    finally:
        conn.close()


def test_interleaved_conversations_incremental_files_and_a_changed_file_keep_the_text_index_exact(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    db = tmp_path / "a.sqlite3"
    # More rows than a batch and than one bulk addition to the text index, conversations interleaved row by row.
    first = _interleaved({"cv-a": "alpha", "cv-b": "bravo", "cv-c": "charlie"}, 4000, prefix="m1")
    (folder / "a.csv").write_text(csv_text([MESSAGE_HEADER, *first]), encoding="utf-8")
    assert import_dir(tmp_path / "x", db).rows == 12_000
    assert [_fts_count(db, w) for w in ("alpha", "bravo", "charlie")] == [4000, 4000, 4000]
    # A second file adds to the first file's conversations (lower seqs than the last ones written) and a new one.
    second = _interleaved({"cv-c": "delta", "cv-a": "delta", "cv-d": "echo"}, 1500, prefix="m2")
    (folder / "b.csv").write_text(csv_text([MESSAGE_HEADER, *second]), encoding="utf-8")
    summary = import_dir(tmp_path / "x", db)
    assert [f.status for f in summary.files] == ["unchanged", "imported"]
    assert [_fts_count(db, w) for w in ("alpha", "bravo", "charlie", "delta", "echo")] == [4000] * 3 + [3000, 1500]
    store = ArchiveStore(db)
    assert store.search(ConversationSearch(text="delta")).page.total == 2
    # The second file's messages of cv-a continue its seq range, after the first file's.
    conn = sqlite3.connect(db)
    ranges = conn.execute(
        "SELECT content, count(*), min(seq >> 20), max(seq >> 20), min(seq), max(seq) FROM messages"
        " WHERE conversation_id = 'cv-a' GROUP BY content ORDER BY content"
    ).fetchall()
    conn.close()
    assert [(c, n) for c, n, *_ in ranges] == [("alpha", 4000), ("delta", 1500)]
    assert len({ranges[0][2], ranges[0][3], ranges[1][2], ranges[1][3]}) == 1
    assert ranges[0][5] < ranges[1][4]
    # The first file is exported again with fewer rows and new words: its old text leaves the index, all of it.
    changed = [[*row[:5], "foxtrot" if row[2] == "cv-b" else row[5]] for row in first[:3000]]
    (folder / "a.csv").write_text(csv_text([MESSAGE_HEADER, *changed]), encoding="utf-8")
    summary = import_dir(tmp_path / "x", db)
    assert [f.status for f in summary.files] == ["imported", "unchanged"]
    assert [_fts_count(db, w) for w in ("alpha", "bravo", "charlie", "foxtrot", "delta", "echo")] == [
        1000, 0, 1000, 1000, 3000, 1500,
    ]  # fmt: skip
    assert count(db, "messages") == 3000 + 4500


def test_a_new_archive_gets_large_pages_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    fresh = tmp_path / "new.sqlite3"
    connect(fresh).close()
    assert sqlite3.connect(fresh).execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    # An archive made before (4 KiB pages) opens as it is, and imports into it work.
    old = tmp_path / "old.sqlite3"
    made = sqlite3.connect(old)
    made.execute("PRAGMA page_size = 4096")
    made.execute("PRAGMA journal_mode = WAL")
    made.close()
    folder = tmp_path / "x" / "message"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(csv_text([MESSAGE_HEADER, *message_rows(10)]), encoding="utf-8")
    assert import_dir(tmp_path / "x", old).rows == 10
    assert sqlite3.connect(old).execute("PRAGMA page_size").fetchone()[0] == 4096
    assert _fts_count(old, "hello") == 10
