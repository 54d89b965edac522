"""The stdio wire of a real `serve` process: lines split anywhere, answers the client is slow to read, stray prints,
and a stdin that is a file rather than a pipe (where the transport falls back to the SDK's threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, server_env

JSON = dict[str, Any]

INITIALIZE: JSON = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "test-stdio", "version": "0"},
    },
}
INITIALIZED: JSON = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def line(message: JSON) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n"


def serve(running: RunningSandbox, stdin: Any, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        env=server_env(running),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )


def answers(process: subprocess.Popen[bytes], count: int) -> list[JSON]:
    """The next `count` lines from the server's stdout, as JSON (blocking reads; the callers bound them by count)."""
    assert process.stdout is not None
    return [json.loads(process.stdout.readline()) for _ in range(count)]


def handshake(process: subprocess.Popen[bytes]) -> None:
    """Initialize the session over the process's stdin pipe, as an MCP client does first."""
    assert process.stdin is not None
    process.stdin.write(line(INITIALIZE) + line(INITIALIZED))
    process.stdin.flush()
    assert answers(process, 1)[0]["id"] == 1


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None and not process.stdin.closed:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_request_split_mid_character_across_writes_is_read_whole(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    process = serve(running, subprocess.PIPE)
    try:
        assert process.stdin is not None
        handshake(process)
        # Two requests, cut inside the two bytes of "é" and again inside the second request, sent apart in time.
        data = line({"jsonrpc": "2.0", "id": "café-1", "method": "tools/list"})
        data += line({"jsonrpc": "2.0", "id": "naïve-2", "method": "tools/list"})
        cut = data.index("é".encode()) + 1
        for piece in (data[:cut], data[cut : cut + 40], data[cut + 40 :]):
            process.stdin.write(piece)
            process.stdin.flush()
            time.sleep(0.2)
        first, second = answers(process, 2)
        assert first["id"] == "café-1"
        assert second["id"] == "naïve-2"
        assert len(first["result"]["tools"]) == 8
    finally:
        stop(process)


def test_answers_wait_for_a_client_that_reads_late_and_arrive_whole_and_in_order(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    process = serve(running, subprocess.PIPE)
    try:
        assert process.stdin is not None
        handshake(process)
        # 40 tool lists of about 7 KB each: several times what a pipe holds, written while nobody reads.
        for index in range(40):
            process.stdin.write(line({"jsonrpc": "2.0", "id": 100 + index, "method": "tools/list"}))
        process.stdin.flush()
        time.sleep(1.0)
        assert process.poll() is None
        got = answers(process, 40)
        assert [answer["id"] for answer in got] == list(range(100, 140))
        assert all(len(answer["result"]["tools"]) == 8 for answer in got)
        # The server still serves after the backlog.
        process.stdin.write(
            line({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "quota_status"}})
        )
        process.stdin.flush()
        (status,) = answers(process, 1)
        assert status["id"] == 7
        assert status["result"]["isError"] is False
    finally:
        stop(process)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_stdin_that_is_a_terminal_is_served_and_a_hang_up_ends_it_cleanly(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    # `sprinklr-mcp serve` typed into by hand: a terminal is not waited on by the event loop, the SDK's threads read it.
    import pty
    import tty

    controller, terminal = pty.openpty()
    tty.setraw(terminal)  # no echo, no line-length limit
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = serve(running, terminal, stderr)
    os.close(terminal)
    try:
        call = {"name": "get_case", "arguments": {"case_number": 48213}}
        os.write(controller, line(INITIALIZE) + line(INITIALIZED))
        assert answers(process, 1)[0]["id"] == 1
        os.write(controller, line({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        os.write(controller, line({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call}))
        got = {answer["id"]: answer for answer in answers(process, 2)}
        assert len(got[2]["result"]["tools"]) == 8
        assert got[3]["result"]["structuredContent"]["case_number"] == 48213
    finally:
        os.close(controller)  # the terminal hangs up: the server reads the end of its input and exits
        stop(process)
    assert process.returncode == 0
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_requests_written_before_stdin_ends_all_get_their_answers(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    # `sprinklr-mcp serve < requests.jsonl`: the end of the file comes long before the answers that need Sprinklr.
    requests = tmp_path / "requests.jsonl"
    batch = [line({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})]
    for number in (48213, 48100, 48101):
        call = {"name": "get_case", "arguments": {"case_number": number}}
        batch.append(line({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": call}))
    requests.write_bytes(line(INITIALIZE) + line(INITIALIZED) + b"".join(batch))
    with requests.open("rb") as stdin:
        process = serve(running, stdin)
        try:
            out, _ = process.communicate(timeout=60)
        finally:
            stop(process)
    got = {message["id"]: message for message in map(json.loads, out.splitlines())}
    assert sorted(got) == [1, 2, 48100, 48101, 48213]
    for number in (48213, 48100, 48101):
        assert "result" in got[number], got[number]
        assert got[number]["result"]["structuredContent"]["case_number"] == number
    assert process.returncode == 0
    # The same through a pipe the client closes right after writing.
    process = serve(running, subprocess.PIPE)
    try:
        out, _ = process.communicate(line(INITIALIZE) + line(INITIALIZED) + batch[1], timeout=60)
    finally:
        stop(process)
    answer = json.loads(out.splitlines()[-1])
    assert answer["id"] == 48213
    assert answer["result"]["structuredContent"]["case_number"] == 48213


def test_a_request_the_client_cancelled_does_not_hold_the_end_of_stdin(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    # A cancelled request gets no answer: the end of stdin must not wait for one.
    sandbox.configure(latency_ms=8000)
    call = {"name": "get_case", "arguments": {"case_number": 48213}}
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5, "reason": "test"}}
    process = serve(running, subprocess.PIPE)
    try:
        assert process.stdin is not None
        handshake(process)
        process.stdin.write(line({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": call}))
        process.stdin.flush()
        time.sleep(0.5)  # the call is waiting on the slow sandbox
        started = time.monotonic()
        out, _ = process.communicate(line(cancel), timeout=60)
        elapsed = time.monotonic() - started
    finally:
        stop(process)
    assert out == b""  # no answer to the cancelled request
    assert elapsed < 6, f"the server took {elapsed:.1f}s to end after stdin closed"


NOISY_SERVER = """
import os, sys, anyio
from mcp.server.mcpserver import MCPServer
from server.stdio import run_stdio

server = MCPServer(name="noisy")

@server.tool()
async def noisy() -> str:
    \"\"\"Print to stdout, as a careless library would.\"\"\"
    print("stray print")
    sys.stdout.flush()
    os.write(1, b"stray write\\n")
    return "done"

anyio.run(run_stdio, server)
"""


def test_stray_output_in_the_server_process_goes_to_stderr_not_onto_the_wire(tmp_path: Path) -> None:
    script = tmp_path / "noisy.py"
    script.write_text(NOISY_SERVER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    call = line({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "noisy"}})
    out, err = process.communicate(line(INITIALIZE) + line(INITIALIZED) + call, timeout=60)
    messages = [json.loads(text) for text in out.splitlines()]  # every line on the wire is JSON-RPC
    assert [message["id"] for message in messages] == [1, 2]
    assert messages[1]["result"]["content"][0]["text"] == "done"
    assert b"stray print" in err
    assert b"stray write" in err
