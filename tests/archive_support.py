"""Shared helpers of the archive tests: the sandbox export set, imports into fresh databases, small CSV files."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server.archive.db import connect
from server.archive.demo import DemoArchive, prepare
from server.archive.importer import Importer, ImportSummary, Progress
from server.archive.sources import LocalSource
from server.archive.values import Times
from server.sandbox import SandboxConfig
from server.sandbox.data import cached_dataset


def sandbox_dataset() -> Any:
    """The dataset the default sandbox serves."""
    config = SandboxConfig()
    return cached_dataset(config.seed, config.cases, config.profiles, config.target_messages)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoArchive:
    """The sandbox's export set, written and imported once for the session (tests copy it before changing it)."""
    return prepare(sandbox_dataset(), tmp_path_factory.mktemp("demo-archive"))


def import_dir(folder: Path, db: Path, *, zone: str = "UTC", progress: Any = None) -> ImportSummary:
    """Import a folder of exports into the database at `db` (created if needed)."""
    conn = connect(db)
    try:
        return Importer(conn, LocalSource(folder), Times(zone), progress=progress).run()
    finally:
        conn.close()


def count(db: Path, table: str, where: str = "", *params: Any) -> int:
    """Rows of a table in the database at `db`."""
    conn = sqlite3.connect(db)
    try:
        sql = f"SELECT count(*) FROM {table} {where}"  # noqa: S608 - test-only, constant names
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def copy_exports(demo: DemoArchive, target: Path) -> Path:
    """A private copy of the sandbox export set, to change."""
    shutil.copytree(demo.export_dir, target, copy_function=shutil.copy2)
    return target


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    """Rows as CSV text, quoted where needed."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


MESSAGE_HEADER = ["Message ID", "Created at (Date / Time)", "Conversation ID", "Medium", "Direction", "Content"]


def message_rows(n: int, conversation: str = "cv-1", start: int = 0, text: str = "hello there") -> list[list[str]]:
    """n well-formed message rows of one conversation, a minute apart."""
    return [
        [
            f"m-{start + i}",
            f"2024-03-01 10:{(start + i) % 60:02d}:00.000",
            conversation,
            "Email",
            "Inbound",
            f"{text} {i}",
        ]
        for i in range(n)
    ]


def stop_at(n: int) -> Any:
    """A progress callback that raises KeyboardInterrupt at its n-th call (an interrupted import)."""
    calls = {"n": 0}

    def progress(_: Progress) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt

    return progress
