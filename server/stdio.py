"""MCP over stdio, with every line answered: malformed lines and requests with `"id": null` get a JSON-RPC error.

The SDK's stdio transport drops a line that is not JSON-RPC (logging it at DEBUG), and reads a request whose id is
null as a notification (its model ignores the null id), which is never answered: a client that sent either would
wait forever. JSON-RPC 2.0 says both get an error reply with id null; MCP forbids null request ids.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import IO, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError
from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def _error(code: int, message: str) -> SessionMessage:
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=message)))


class AnswerMalformedLines:
    """The stdio read stream, but a line that is not JSON-RPC gets a JSON-RPC error reply instead of silence."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], out: WriteStream[SessionMessage]) -> None:
        self._inner = inner
        self._out = out

    @property
    def last_context(self) -> Any:
        """The sender's context, as the SDK's context-aware streams expose it."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        """The next well-formed message; malformed ones are answered (-32700 or -32600) and skipped."""
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
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

    def __init__(self, fp: IO[str]) -> None:
        super().__init__(fp)
        self._out: WriteStream[SessionMessage] | None = None
        self._ready = anyio.Event()

    def answer_to(self, out: WriteStream[SessionMessage]) -> None:
        """Where answers go: the transport's write stream, which exists only once the transport has started."""
        self._out = out
        self._ready.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in super().__aiter__():
            if not is_null_id_request(line):
                yield line
                continue
            await self._ready.wait()
            assert self._out is not None  # set together with the event
            message = 'Invalid Request: "id" must be a string or a number; MCP requests may not have a null id'
            await self._out.send(_error(INVALID_REQUEST, message))


class _Unowned(io.TextIOWrapper):
    """A text layer whose close leaves the buffer open: the buffer is not ours (it may be sys.stdin's own)."""

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.detach()


@contextmanager
def claimed_stdin() -> Iterator[IO[str]]:
    """The wire as a private duplicate of fd 0, with fd 0 itself on the null device meanwhile (as the SDK does).

    Anything else in the process that reads stdin then reads nothing, instead of stealing the client's lines.
    """
    try:
        private = os.dup(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        # No descriptor behind stdin (an embedding host): read the stream in place.
        yield _Unowned(sys.stdin.buffer, encoding="utf-8", errors="replace")
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        # closefd=False: a worker thread may still block reading it after we are done; it must never be recycled.
        yield _Unowned(os.fdopen(private, "rb", closefd=False), encoding="utf-8", errors="replace")
    finally:
        os.dup2(private, 0)


async def run_stdio(server: MCPServer[Any]) -> None:
    """Serve MCP over stdio, answering malformed lines and null-id requests with a JSON-RPC error."""
    lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does exactly this, without the answers
    # Everything loaded so far lives as long as the process: keep it out of the collector's way.
    gc.freeze()
    with claimed_stdin() as wire:
        lines = AnswerNullIds(wire)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):
            lines.answer_to(write_stream)
            await lowlevel.run(
                AnswerMalformedLines(read_stream, write_stream), write_stream, lowlevel.create_initialization_options()
            )
