"""Export files read from Sparkcentral's SFTP location with asyncssh: list, stat and read, nothing else.

The importer is synchronous (sqlite3 and csv are), asyncssh is not: the connection lives on a private event loop in
a background thread, and each call waits for its result. The host key is always checked against a known-hosts file.
"""

from __future__ import annotations

import asyncio
import builtins
import posixpath
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlsplit

import asyncssh
from pydantic import SecretStr

from server.archive.sources import ExportFile, SourceError

T = TypeVar("T")
TIMEOUT_SECONDS = 60.0


class _Loop:
    """An asyncio loop on a daemon thread, to run asyncssh from synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sparkcentral-sftp", daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = TIMEOUT_SECONDS) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class _RemoteReader:
    """A remote file opened for reading, read synchronously (the importer wraps it in its own buffer)."""

    def __init__(self, loop: _Loop, handle: asyncssh.SFTPClientFile) -> None:
        self._loop = loop
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        data = self._loop.run(self._handle.read(size))
        return data if isinstance(data, bytes) else data.encode()

    def close(self) -> None:
        self._loop.run(self._handle.close())


class SftpSource:
    """The scheduled-export SFTP location: `/export/<type>/*.csv` (and any CSVs directly under the root)."""

    def __init__(
        self,
        url: str,
        *,
        password: SecretStr | None = None,
        key_file: str | None = None,
        known_hosts: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 22
        self.user = unquote(parts.username or "")
        self.root = posixpath.normpath(unquote(parts.path) or "/export") if parts.path not in ("", "/") else "/export"
        self._label = f"sftp://{self.user}@{self.host}:{self.port}{self.root}"
        self._loop = _Loop()
        try:
            self._conn, self._sftp = self._loop.run(self._connect(password, key_file, known_hosts))
        except BaseException:
            self._loop.stop()
            raise

    async def _connect(
        self, password: SecretStr | None, key_file: str | None, known_hosts: str | None
    ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
        options: dict[str, Any] = {
            "username": self.user,
            # Never None: that would turn host key checking off. The default is the user's ~/.ssh/known_hosts.
            "known_hosts": known_hosts if known_hosts else (),
            "connect_timeout": 30,
        }
        if password is not None:
            options["password"] = password.get_secret_value()
        if key_file:
            options["client_keys"] = [key_file]
        elif password is not None:
            options["client_keys"] = None
        where = f"{self.host}:{self.port}"
        try:
            conn = await asyncssh.connect(self.host, self.port, **options)
        except asyncssh.HostKeyNotVerifiable:
            hosts = known_hosts or "~/.ssh/known_hosts"
            raise SourceError(
                f"SFTP server {where} offered a host key that {hosts} does not list, so it was refused. Check its "
                f"fingerprint with Sparkcentral, then add it to SPARKCENTRAL_SFTP_KNOWN_HOSTS."
            ) from None
        except asyncssh.PermissionDenied:
            raise SourceError(
                f"SFTP login as {self.user} on {where} was refused: check SPARKCENTRAL_SFTP_PASSWORD or "
                "SPARKCENTRAL_SFTP_KEY_FILE."
            ) from None
        except (OSError, asyncssh.Error) as exc:
            reason = type(exc).__name__ if isinstance(exc, asyncssh.Error) else (exc.strerror or type(exc).__name__)
            raise SourceError(
                f"cannot reach the SFTP server {where} ({reason}); check SPARKCENTRAL_SFTP_URL."
            ) from None
        return conn, await conn.start_sftp_client()

    @property
    def label(self) -> str:
        """The location without any secret."""
        return self._label

    def list(self) -> builtins.list[ExportFile]:
        """CSV files in the root and its direct sub-folders, sorted by path."""
        return self._loop.run(self._list())

    async def _list(self) -> builtins.list[ExportFile]:
        found: list[ExportFile] = []
        folders = [""]
        try:
            for entry in await self._sftp.readdir(self.root):
                name = str(entry.filename)
                if entry.attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY and not name.startswith("."):
                    folders.append(name)
            for folder in sorted(folders):
                path = posixpath.join(self.root, folder) if folder else self.root
                for entry in await self._sftp.readdir(path):
                    name = str(entry.filename)
                    if entry.attrs.type != asyncssh.FILEXFER_TYPE_REGULAR or not name.lower().endswith(".csv"):
                        continue
                    relative = f"{folder}/{name}" if folder else name
                    found.append(ExportFile(relative, entry.attrs.size or 0, _mtime_ns(entry.attrs)))
        except asyncssh.SFTPError as exc:
            raise SourceError(f"cannot list {self._label}: {exc.reason}") from None
        return sorted(found, key=lambda f: f.path)

    def _full(self, path: str) -> str:
        full = posixpath.normpath(posixpath.join(self.root, path))
        if not (full + "/").startswith(self.root.rstrip("/") + "/"):
            raise SourceError(f"{path!r} is outside the export folder")
        return full

    def stat(self, path: str) -> tuple[int, int]:
        """The file's size and modification time now."""
        attrs = self._loop.run(self._sftp.stat(self._full(path)))
        return attrs.size or 0, _mtime_ns(attrs)

    def open(self, path: str) -> IO[bytes]:
        """The file opened for reading only."""
        handle: asyncssh.SFTPClientFile = self._loop.run(self._open(self._full(path)))
        return _RemoteReader(self._loop, handle)  # type: ignore[return-value]  # read() and close() are all we use

    async def _open(self, full: str) -> asyncssh.SFTPClientFile:
        # Read-only: "rb" is the SFTP READ flag alone (no WRITE, CREAT, TRUNC or APPEND).
        return await self._sftp.open(full, "rb")

    def close(self) -> None:
        """Close the SFTP session and the connection."""
        try:
            self._sftp.exit()
            self._conn.close()
            self._loop.run(self._conn.wait_closed(), timeout=5)
        finally:
            self._loop.stop()


def _mtime_ns(attrs: asyncssh.SFTPAttrs) -> int:
    seconds = attrs.mtime or 0
    nanos = getattr(attrs, "mtime_ns", None) or 0
    return int(seconds) * 1_000_000_000 + int(nanos)
