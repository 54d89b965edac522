"""`sprinklr-mcp archive import | status` as a user runs them: child processes, with and without a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from server.archive.demo import DemoArchive
from tests.archive_support import demo
from tests.conftest import clean_env

__all__ = ["demo"]
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m server ARGS` with only the given variables (no SPRINKLR_* ones: the archive needs none)."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env={**clean_env(), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_import_prints_a_line_per_file_and_a_summary_and_status_says_what_is_held(
    demo: DemoArchive, tmp_path: Path
) -> None:
    env = {"SPARKCENTRAL_EXPORT_DIR": str(demo.export_dir), "SPARKCENTRAL_ARCHIVE_PATH": str(tmp_path / "a.db")}
    first = run("archive", "import", env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.strip().splitlines()
    assert lines[0].startswith(f"Importing from {demo.export_dir}")
    assert len(lines) == 2 + len(demo.imported.files)
    assert "\r" not in first.stderr  # no progress bar without a terminal
    assert any("rows imported, 3 skipped" in line and "first skipped: line" in line for line in lines)
    assert lines[-1].startswith(f"{len(demo.imported.files)} files ({len(demo.imported.files)} imported)")
    again = run("archive", "import", env=env)
    assert again.stderr.strip().splitlines()[-1].startswith(f"{len(demo.imported.files)} files (")
    assert "unchanged" in again.stderr.strip().splitlines()[-1]
    status = run("archive", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert f"{demo.written.rows['message']} messages" in status.stdout
    assert "rows skipped as malformed: 4" in status.stdout


def test_import_on_a_terminal_draws_a_progress_bar(demo: DemoArchive, tmp_path: Path) -> None:
    env = {
        **clean_env(),
        "SPARKCENTRAL_EXPORT_DIR": str(demo.export_dir),
        "SPARKCENTRAL_ARCHIVE_PATH": str(tmp_path / "a.db"),
    }
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "archive", "import"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break  # the child closed the terminal
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=TIMEOUT) == 0
    text = output.decode(errors="replace")
    assert "\r[" in text
    assert "file 1/" in text
    assert "rows imported" in text


def test_configuration_mistakes_are_one_line_without_a_traceback_or_the_password(tmp_path: Path) -> None:
    cases = [
        ({}, "no Sparkcentral archive is configured"),
        ({"SPARKCENTRAL_EXPORT_DIR": str(tmp_path / "missing")}, "is not a directory"),
        ({"SPARKCENTRAL_TIMEZONE": "Mars/Olympus", "SPARKCENTRAL_EXPORT_DIR": str(tmp_path)}, "SPARKCENTRAL_TIMEZONE"),
        ({"SPARKCENTRAL_SFTP_URL": "sftp://u:hunter2@host/export"}, "SPARKCENTRAL_SFTP_PASSWORD"),
        ({"SPARKCENTRAL_SFTP_URL": "ftp://host/export"}, "sftp://user@host"),
        ({"SPARKCENTRAL_SFTP_URL": "sftp://u@h/x", "SPARKCENTRAL_EXPORT_DIR": str(tmp_path)}, "not both"),
    ]
    for env, expected in cases:
        done = run("archive", "import", env=env)
        assert done.returncode == 2, (env, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert expected in lines[0]
        assert "Traceback" not in done.stderr
        assert "hunter2" not in done.stderr
