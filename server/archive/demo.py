"""The sandbox's archive: the generated Sparkcentral export set, written to a temporary folder and imported."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.archive.db import connect
from server.archive.importer import Importer, ImportSummary
from server.archive.sources import LocalSource
from server.archive.values import Times
from server.sandbox.data import Dataset
from server.sandbox.exports import ExportCounts, customers_from_profiles, earliest_case_ms, write_exports

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DemoArchive:
    """Where the sandbox archive was written, what the generator wrote and what the import made of it."""

    export_dir: Path
    archive_path: Path
    written: ExportCounts
    imported: ImportSummary

    def settings(self) -> dict[str, Any]:
        """Settings overrides that point a server at this archive."""
        return {"sparkcentral_export_dir": str(self.export_dir), "sparkcentral_archive_path": str(self.archive_path)}


def write_sandbox_exports(dataset: Dataset, root: Path, *, conversations: int = 3000) -> ExportCounts:
    """The export set for the year before the dataset's first case, for half of its customers and some others."""
    rng = random.Random(dataset.seed)
    customers = customers_from_profiles(dataset.profiles, rng)
    until = earliest_case_ms(dataset.cases) - DAY_MS if dataset.cases else 1_735_689_600_000
    return write_exports(root, customers, until_ms=until, conversations=conversations, seed=dataset.seed)


def prepare(dataset: Dataset, folder: Path, *, conversations: int = 3000) -> DemoArchive:
    """Write the sandbox export set under `folder` and import it into `folder`/archive.sqlite3."""
    export_dir, path = folder / "exports", folder / "archive.sqlite3"
    written = write_sandbox_exports(dataset, export_dir, conversations=conversations)
    conn = connect(path)
    try:
        imported = Importer(conn, LocalSource(export_dir), Times()).run()
    finally:
        conn.close()
    return DemoArchive(export_dir, path, written, imported)


@contextmanager
def demo_archive(dataset: Dataset) -> Iterator[DemoArchive]:
    """The sandbox archive in a temporary folder, removed on exit; `.settings()` gives the overrides to use."""
    with tempfile.TemporaryDirectory(prefix="sprinklr-mcp-archive-") as folder:
        yield prepare(dataset, Path(folder))
