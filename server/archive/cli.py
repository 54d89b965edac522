"""`sprinklr-mcp archive import | status`: fill the archive from its source, and say what it holds."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from server.archive.config import archive_path, load_archive_settings, open_source
from server.archive.db import ArchiveUnavailable, connect
from server.archive.importer import FileResult, Importer, Progress
from server.archive.sources import SourceError
from server.archive.store import ArchiveStore
from server.archive.values import Times
from server.settings import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `archive` command and its two subcommands."""
    archive = sub.add_parser(
        "archive",
        help="the Sparkcentral archive: import export CSVs, show what it holds",
        description="Import Sparkcentral export CSVs into the local archive the archive tools read, or show what it "
        "holds. Reads SPARKCENTRAL_EXPORT_DIR or SPARKCENTRAL_SFTP_URL (with _PASSWORD or _KEY_FILE, _KNOWN_HOSTS), "
        "SPARKCENTRAL_ARCHIVE_PATH and SPARKCENTRAL_TIMEZONE.",
    )
    actions = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION", help="import or status")
    help_import = "import new and changed export files from SPARKCENTRAL_EXPORT_DIR or _SFTP_URL"
    actions.add_parser("import", help=help_import, description=help_import[0].upper() + help_import[1:] + ".")
    help_status = "show what the archive holds and the files imported"
    actions.add_parser("status", help=help_status, description=help_status[0].upper() + help_status[1:] + ".")


def run(args: argparse.Namespace) -> int:
    """Run `archive import` or `archive status`; returns the exit code."""
    settings = load_archive_settings()
    path = archive_path(settings)
    if args.archive_command == "status":
        return _status(path)
    try:
        source = open_source(settings)
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        conn = connect(path)
    except ArchiveUnavailable as exc:
        raise ConfigError(str(exc)) from None
    try:
        importer = Importer(conn, source, Times(settings.sparkcentral_timezone), progress=bar.update if bar else None)
        print(f"Importing from {source.label} into {path}", file=sys.stderr)
        summary = importer.run(on_file=lambda result: _report(result, bar))
    except SourceError as exc:
        print(f"sprinklr-mcp: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
        source.close()
    print(summary.line(), file=sys.stderr)
    return 1 if any(f.status == "failed" for f in summary.files) else 0


def _report(result: FileResult, bar: ProgressBar | None) -> None:
    if bar is not None:
        bar.clear()
    print(result.line(), file=sys.stderr)


def _status(path: Path) -> int:
    try:
        status = ArchiveStore(path).status()
    except ArchiveUnavailable as exc:
        print(f"sprinklr-mcp: {exc}", file=sys.stderr)
        return 1
    when = datetime.fromtimestamp(status.last_import, UTC).strftime("%Y-%m-%d %H:%M UTC") if status.last_import else "-"
    span = (
        f"{_day(status.first_ms)} to {_day(status.last_ms)}" if status.first_ms is not None else "no conversations yet"
    )
    counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in status.counts.items())
    print(f"Archive: {status.path}")
    print(f"Files imported: {status.files} (last {when}); rows skipped as malformed: {status.skipped_rows}")
    print(f"Holds: {counts}; conversations from {span}")
    return 0


def _day(epoch_ms: int | None) -> str:
    return "?" if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d")


class ProgressBar:
    """A one-line progress bar on a terminal: file n of m, its bytes read, and a bar."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown = False
        self.last = 0.0

    def update(self, progress: Progress) -> None:
        """Redraw the bar (at most ten times a second)."""
        now = time.monotonic()
        if now - self.last < 0.1 and progress.read < progress.size:
            return
        self.last = now
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 60))
        share = progress.read / progress.size if progress.size else 1.0
        filled = int(width * min(1.0, share))
        name = progress.path[-30:]
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {share:4.0%} file {progress.index}/{progress.total} {name}"
        self.out.write(line)
        self.out.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar so that a summary line can be printed."""
        if self.shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self.shown = False
