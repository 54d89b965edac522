"""The SFTP source against a real asyncssh SFTP server on 127.0.0.1 that records every request it receives."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from pydantic import SecretStr

from server.archive.db import connect
from server.archive.demo import DemoArchive
from server.archive.importer import Importer
from server.archive.sftp import SftpSource
from server.archive.sources import SourceError
from server.archive.values import Times
from tests.archive_support import count, demo

__all__ = ["demo"]

USER, PASSWORD = "exports", "s3cret-sftp-password"
# Every SFTP request that could change the server's files; none may ever arrive.
WRITE_REQUESTS = frozenset(
    {"write", "remove", "rename", "posix_rename", "mkdir", "rmdir", "setstat", "fsetstat", "lsetstat", "symlink",
     "link", "fsync", "lock", "unlock"}
)  # fmt: skip
WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND
RECORDED = (
    "open", "read", "close", "stat", "lstat", "fstat", "scandir", "realpath", "readlink", "statvfs", "fstatvfs",
    *WRITE_REQUESTS,
)  # fmt: skip


@dataclass
class Recorder:
    """Every request the SFTP server handled: (name, details)."""

    requests: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> set[str]:
        return {name for name, _ in self.requests}


def recording_server(root: Path, recorder: Recorder) -> type[asyncssh.SFTPServer]:
    """An SFTP server class serving `root` that notes each request before handling it."""

    class RecordingSFTPServer(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
            super().__init__(chan, chroot=str(root).encode())

    def wrap(name: str) -> Any:
        original = getattr(asyncssh.SFTPServer, name)

        def method(self: asyncssh.SFTPServer, *args: Any, **kwargs: Any) -> Any:
            detail = args[1] if name == "open" else None  # open(path, pflags, attrs): keep the flags
            recorder.requests.append((name, detail))
            return original(self, *args, **kwargs)

        return method

    for name in RECORDED:
        setattr(RecordingSFTPServer, name, wrap(name))
    return RecordingSFTPServer


class PasswordServer(asyncssh.SSHServer):
    """Accepts one user with one password."""

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


@dataclass
class SftpServer:
    """A running loopback SFTP server: its port, host key and request log."""

    port: int
    host_key: asyncssh.SSHKey
    recorder: Recorder
    known_hosts: Path


@pytest.fixture
def sftp_server(demo: DemoArchive, tmp_path: Path) -> Iterator[SftpServer]:
    """An asyncssh SFTP server on 127.0.0.1 serving the sandbox export set under /export."""
    root = tmp_path / "sftp-root"
    shutil.copytree(demo.export_dir, root / "export", copy_function=shutil.copy2)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    recorder = Recorder()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            server_factory=PasswordServer,
            sftp_factory=recording_server(root, recorder),
            allow_scp=False,
        )
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    assert started.wait(30)
    port = holder["port"]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    try:
        yield SftpServer(port, host_key, recorder, known_hosts)
    finally:

        async def stop() -> None:
            # On the server's own loop: closing an asyncio server from another thread races its wake-ups.
            holder["server"].close()
            await holder["server"].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def source(server: SftpServer, **options: Any) -> SftpSource:
    values: dict[str, Any] = {"password": SecretStr(PASSWORD), "known_hosts": str(server.known_hosts)}
    values.update(options)
    return SftpSource(f"sftp://{USER}@127.0.0.1:{server.port}/export", **values)


def test_the_sftp_location_is_listed_stated_and_read(sftp_server: SftpServer, demo: DemoArchive) -> None:
    src = source(sftp_server)
    try:
        files = src.list()
        local = sorted(p.relative_to(demo.export_dir).as_posix() for p in demo.export_dir.rglob("*.csv"))
        assert [f.path for f in files] == local
        first = files[0]
        assert src.stat(first.path) == (first.size, first.mtime_ns)
        handle = src.open(first.path)
        data = b"".join(iter(lambda: handle.read(4096), b""))
        handle.close()
        assert data == (demo.export_dir / first.path).read_bytes()
    finally:
        src.close()


def test_an_import_over_sftp_matches_the_local_import_and_sends_no_write_request(
    sftp_server: SftpServer, demo: DemoArchive, tmp_path: Path
) -> None:
    src = source(sftp_server)
    conn = connect(tmp_path / "a.sqlite3")
    try:
        summary = Importer(conn, src, Times()).run()
    finally:
        conn.close()
        src.close()
    assert summary.rows == demo.imported.rows
    assert count(tmp_path / "a.sqlite3", "messages") == count(demo.archive_path, "messages")
    names = sftp_server.recorder.names()
    assert {"open", "read", "scandir"} <= names
    assert not names & WRITE_REQUESTS
    opens = [flags for name, flags in sftp_server.recorder.requests if name == "open"]
    assert opens
    assert all(flags & WRITE_FLAGS == 0 for flags in opens)


def test_a_server_whose_host_key_is_not_known_is_refused_before_login(sftp_server: SftpServer, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    wrong = tmp_path / "wrong_hosts"
    wrong.write_text(f"[127.0.0.1]:{sftp_server.port} {other.export_public_key().decode()}")
    with pytest.raises(SourceError, match="host key") as caught:
        source(sftp_server, known_hosts=str(wrong))
    assert PASSWORD not in str(caught.value)
    assert sftp_server.recorder.requests == []


def test_a_wrong_password_is_refused_with_a_message_that_names_the_setting(sftp_server: SftpServer) -> None:
    with pytest.raises(SourceError, match="SPARKCENTRAL_SFTP_PASSWORD") as caught:
        source(sftp_server, password=SecretStr("not-the-password"))
    assert "not-the-password" not in str(caught.value)


def test_the_source_offers_no_way_to_change_files() -> None:
    public = {name for name in dir(SftpSource) if not name.startswith("_")}
    assert public == {"list", "stat", "open", "close", "label"}
