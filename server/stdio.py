"""MCP over stdio, with every line answered: malformed lines and requests with `"id": null` get a JSON-RPC error.

The SDK's stdio transport drops a line that is not JSON-RPC (logging it at DEBUG), and reads a request whose id is
null as a notification (its model ignores the null id), which is never answered: a client that sent either would
wait forever. JSON-RPC 2.0 says both get an error reply with id null; MCP forbids null request ids.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import json
import os
import select
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TextIO, cast

import anyio

if sys.platform != "win32":
    import fcntl
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def _error(code: int, message: str) -> SessionMessage:
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=message)))


# How long the end of stdin waits for the requests still being answered (a tool call is bounded well within this).
DRAIN_SECONDS = 60.0


class InFlight:
    """The ids of the requests read and not yet answered, so that the end of stdin can wait for their answers.

    Without it the SDK answers every request still running when stdin closes with "Connection closed": a client
    that writes its requests and closes its end (`sprinklr-mcp serve < requests.jsonl`) lost every answer but the
    quickest.
    """

    def __init__(self) -> None:
        self._ids: set[str | int] = set()
        self._idle = anyio.Event()
        self._idle.set()

    def read(self, message: Any) -> None:
        """Note a request coming in, or forget one the client cancelled (a cancelled request gets no answer)."""
        if isinstance(message, JSONRPCRequest):
            self._ids.add(message.id)
            if self._idle.is_set():
                self._idle = anyio.Event()
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            params = message.params if isinstance(message.params, dict) else {}
            self._answered(params.get("requestId"))

    def written(self, message: Any) -> None:
        """Note an answer going out."""
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            self._answered(message.id)

    def _answered(self, request_id: Any) -> None:
        self._ids.discard(request_id)
        if not self._ids:
            self._idle.set()

    async def drained(self, limit: float = DRAIN_SECONDS) -> None:
        """Return once every request read has its answer written, or after `limit` seconds."""
        with anyio.move_on_after(limit):
            while self._ids:
                await self._idle.wait()


class CountAnswers:
    """The stdio write stream, telling InFlight which requests have their answers."""

    def __init__(self, inner: WriteStream[SessionMessage], inflight: InFlight) -> None:
        self._inner = inner
        self._inflight = inflight

    async def send(self, item: SessionMessage, /) -> None:
        """Write the message, then count it as answered."""
        await self._inner.send(item)
        self._inflight.written(item.message)

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._inner.aclose()

    async def __aenter__(self) -> CountAnswers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AnswerMalformedLines:
    """The stdio read stream, but a line that is not JSON-RPC gets a JSON-RPC error reply instead of silence, and
    the end of the input waits until the requests already read are answered."""

    def __init__(
        self, inner: ReadStream[SessionMessage | Exception], out: WriteStream[SessionMessage], inflight: InFlight
    ) -> None:
        self._inner = inner
        self._out = out
        self._inflight = inflight

    @property
    def last_context(self) -> Any:
        """The sender's context, as the SDK's context-aware streams expose it."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        """The next well-formed message; malformed ones are answered (-32700 or -32600) and skipped."""
        while True:
            try:
                item = await self._inner.receive()
            except anyio.EndOfStream:
                await self._inflight.drained()
                raise
            if not isinstance(item, Exception):
                self._inflight.read(item.message)
                return item
            kinds = {e["type"] for e in item.errors()} if isinstance(item, ValidationError) else set()
            if "json_invalid" in kinds:
                await self._out.send(_error(PARSE_ERROR, "Parse error: the line is not valid JSON"))
            else:
                message = "Invalid Request: the line is JSON but not a JSON-RPC 2.0 message"
                await self._out.send(_error(INVALID_REQUEST, message))

    def __aiter__(self) -> AnswerMalformedLines:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._inner.aclose()

    async def __aenter__(self) -> AnswerMalformedLines:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def is_null_id_request(line: str) -> bool:
    """True for a JSON-RPC request whose id is null (a method and `"id": null`)."""
    if '"id"' not in line or "null" not in line:
        return False  # the common case, decided without parsing the line twice
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and "method" in message and "id" in message and message["id"] is None


class AnswerNullIds(anyio.AsyncFile[str]):
    """The wire's lines, except that a request with `"id": null` is answered here (Invalid Request) and dropped."""

    def __init__(self, source: anyio.AsyncFile[str]) -> None:
        super().__init__(source.wrapped)
        self._source = source
        self._out: WriteStream[SessionMessage] | None = None
        self._ready = anyio.Event()

    def answer_to(self, out: WriteStream[SessionMessage]) -> None:
        """Where answers go: the transport's write stream, which exists only once the transport has started."""
        self._out = out
        self._ready.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._source:
            if not is_null_id_request(line):
                yield line
                continue
            await self._ready.wait()
            assert self._out is not None  # set together with the event
            message = 'Invalid Request: "id" must be a string or a number; MCP requests may not have a null id'
            await self._out.send(_error(INVALID_REQUEST, message))


# -- the wire ----------------------------------------------------------------------------------------------------------
#
# The SDK reads and writes stdio through worker threads: three thread hops per answered request (read a line, write,
# flush), about 125 us each on a 2-core machine, more than our own code spends on a cached answer. When the wire is a
# pipe or a socket (as MCP hosts start servers), the event loop waits on the descriptor itself instead, and nothing
# leaves the loop thread. The descriptors stay blocking (O_NONBLOCK would be shared with whoever else holds them): a
# read after "readable" returns what is there, and a write of at most PIPE_BUF bytes after "writable" never blocks.
# Anything else (a terminal, a regular file, no descriptor at all) keeps the SDK's threads.


def polls(fd: int | None) -> bool:
    """True when the event loop can wait on `fd` itself: a pipe or a socket, on a POSIX system."""
    if fd is None or sys.platform == "win32":
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class PipeLines(anyio.AsyncFile[str]):
    """The lines arriving on a pipe or socket, read on the event loop (no worker thread), decoded as UTF-8."""

    def __init__(self, fd: int, fp: IO[bytes]) -> None:
        super().__init__(cast(IO[str], fp))  # kept for AsyncFile's attributes; reads go to the descriptor
        self._fd = fd

    async def __aiter__(self) -> AsyncIterator[str]:
        pending = bytearray()
        while True:
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, 1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            if not chunk:
                if pending:
                    yield pending.decode("utf-8", errors="replace")
                return
            # Only the new bytes are searched: a long line arriving in many reads costs linear time.
            end = chunk.rfind(b"\n")
            if end < 0:
                pending += chunk
                continue
            pending += chunk[: end + 1]
            lines = pending.split(b"\n")
            pending = bytearray(chunk[end + 1 :])
            for line in lines[:-1]:
                # Decoded per line, so a character split between two reads is never cut in half.
                yield line.decode("utf-8", errors="replace") + "\n"


class PipeWriter(anyio.AsyncFile[str]):
    """Writes to a pipe or socket from the event loop: PIPE_BUF bytes at a time, each once the wire has room."""

    def __init__(self, fd: int, fp: IO[bytes]) -> None:
        super().__init__(cast(IO[str], fp))  # kept for AsyncFile's attributes; writes go to the descriptor
        self._fd = fd
        self._room = select.poll()
        self._room.register(fd, select.POLLOUT)

    async def write(self, text: str) -> int:
        """Write all of `text`; waits (without blocking the loop) while the reader is behind."""
        data = memoryview(text.encode("utf-8"))
        while data:
            if not self._room.poll(0):
                await anyio.wait_writable(self._fd)
            try:
                written = os.write(self._fd, data[: select.PIPE_BUF])
            except InterruptedError:
                continue
            data = data[written:]
        return len(text)

    async def flush(self) -> None:
        """Nothing to do: every write went straight to the descriptor."""


class _ThreadLines(anyio.AsyncFile[str]):
    """Lines read by a worker thread (the SDK's way), for a wire the event loop cannot wait on (a terminal, a file).

    A terminal that hangs up answers reads with EIO rather than an end of file: that is the end of the input too.
    """

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            try:
                line = await self.readline()
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise
            if not line:
                return
            yield line


class _Unowned(io.TextIOWrapper):
    """A text layer whose close leaves the buffer open: the buffer is not ours (it may be sys.stdin's own)."""

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.detach()


@contextmanager
def _claimed(
    fd: int, stream: TextIO, mode: str, diversion: Callable[[], int]
) -> Iterator[tuple[IO[bytes], int | None]]:
    """The wire as a private duplicate of `fd`, with `fd` itself diverted meanwhile (as the SDK does), and restored.

    Anything else in the process that reads stdin then reads nothing instead of stealing the client's lines, and
    stray prints go to stderr instead of corrupting the answers.
    """
    try:
        if stream.fileno() != fd:
            raise ValueError(fd)
        private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) if sys.platform != "win32" else os.dup(fd)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        # No descriptor behind the stream (an embedding host): use the stream in place.
        yield stream.buffer, None
        return
    replacement = diversion()
    os.dup2(replacement, fd)
    os.close(replacement)
    try:
        # closefd=False: a worker thread may still block reading it after we are done; it must never be recycled.
        yield os.fdopen(private, mode, closefd=False), private
    finally:
        os.dup2(private, fd)


def _null_input() -> int:
    return os.open(os.devnull, os.O_RDONLY)


def _stderr_output() -> int:
    try:
        return os.dup(2)
    except OSError:
        return os.open(os.devnull, os.O_WRONLY)


def _reader(fd: int | None, wire: IO[bytes]) -> anyio.AsyncFile[str]:
    if fd is not None and polls(fd):
        return PipeLines(fd, wire)
    return _ThreadLines(_Unowned(wire, encoding="utf-8", errors="replace"))


def _writer(fd: int | None, wire: IO[bytes]) -> anyio.AsyncFile[str]:
    if fd is not None and polls(fd):
        return PipeWriter(fd, wire)
    return anyio.AsyncFile(_Unowned(wire, encoding="utf-8"))


async def run_stdio(server: MCPServer[Any]) -> None:
    """Serve MCP over stdio, answering malformed lines and null-id requests with a JSON-RPC error."""
    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does exactly this, without the answers
    # Everything loaded so far lives as long as the process: keep it out of the collector's way.
    gc.freeze()
    with (
        _claimed(0, sys.stdin, "rb", _null_input) as (wire_in, fd_in),
        _claimed(1, sys.stdout, "wb", _stderr_output) as (wire_out, fd_out),
    ):
        lines = AnswerNullIds(_reader(fd_in, wire_in))
        async with stdio_server(stdin=lines, stdout=_writer(fd_out, wire_out)) as (read_stream, write_stream):
            lines.answer_to(write_stream)
            inflight = InFlight()
            await lowlevel.run(
                AnswerMalformedLines(read_stream, write_stream, inflight),
                CountAnswers(write_stream, inflight),
                lowlevel.create_initialization_options(),
            )
