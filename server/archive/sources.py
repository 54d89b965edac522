"""Where export files come from: a local directory laid out as the SFTP location, or dropped flat.

A source can only list, stat and open files for reading: it has no method that writes, renames or removes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One CSV file of a source: its path relative to the source root, size and modification time."""

    path: str
    size: int
    mtime_ns: int

    @property
    def folder(self) -> str:
        """The folder the file sits in under the root ('' when dropped flat)."""
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def name(self) -> str:
        """The file name without its folder."""
        return self.path.rsplit("/", 1)[-1]


class Source(Protocol):
    """A read-only place holding export CSVs."""

    @property
    def label(self) -> str:
        """Where the source is, for messages and the database name (never a password)."""
        ...

    def list(self) -> list[ExportFile]:
        """Every CSV file under the root (one folder level deep, as the SFTP location is laid out)."""
        ...

    def stat(self, path: str) -> tuple[int, int]:
        """The (size, mtime_ns) of one file now, to detect a file that changed while it was read."""
        ...

    def open(self, path: str) -> IO[bytes]:
        """Open one file for reading, as bytes."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SourceError(Exception):
    """A source cannot be read; the message says which and what to do."""


class LocalSource:
    """Export CSVs in a local directory: `<root>/<type>/*.csv` as on the SFTP location, or `<root>/*.csv`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise SourceError(f"SPARKCENTRAL_EXPORT_DIR {self.root} is not a directory; point it at the export folder")

    @property
    def label(self) -> str:
        """The directory's absolute path."""
        return str(self.root)

    def list(self) -> list[ExportFile]:
        """CSV files in the root and in its direct sub-folders, sorted by path."""
        found: list[ExportFile] = []
        for folder in [self.root, *sorted(p for p in self.root.iterdir() if p.is_dir())]:
            for entry in sorted(folder.iterdir()):
                if entry.suffix.lower() != ".csv" or not entry.is_file():
                    continue
                stat = entry.stat()
                found.append(ExportFile(entry.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime_ns))
        return found

    def _resolve(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root):
            raise SourceError(f"{path!r} is outside the export directory")
        return full

    def stat(self, path: str) -> tuple[int, int]:
        """The file's current size and modification time."""
        stat = os.stat(self._resolve(path))
        return stat.st_size, stat.st_mtime_ns

    def open(self, path: str) -> IO[bytes]:
        """The file, opened read-only."""
        return open(self._resolve(path), "rb")

    def close(self) -> None:
        """Nothing to release."""
