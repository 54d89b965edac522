"""Record and replay upstream exchanges, so a problem met with the real Sprinklr can be attached to an issue and
replayed through the client here.

With SPRINKLR_MCP_RECORD_DIR set, every exchange that reaches the network (retries and token refreshes included) is
appended to a JSON-lines file in that folder: method, path below the API root, query, request body, status, the few
headers that matter (content type, Retry-After, the gateway's error code) and the response body. Credentials never
reach the file: the Authorization and Key headers are not recorded, token requests and answers are blanked, every
secret is scrubbed (server/scrub.py), and personal data (emails, phones, card numbers) is masked in both bodies.

`ReplayTransport` answers requests from such a file, matching them as recorded (masked the same way).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2 as httpx

from server.pii import redact
from server.scrub import Scrubber

KEPT_HEADERS = ("content-type", "retry-after", "x-mashery-error-code")
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password


class Masker:
    """Removes secrets (through the server's scrubber) and masks personal data in text and JSON."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        self._scrub = scrub

    def text(self, value: str) -> str:
        """Text without secrets or personal data."""
        return redact(self._scrub(value))

    def json(self, value: Any) -> Any:
        """A JSON value with every string masked (object keys are field names, kept as they are)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        return value

    def body(self, content: bytes) -> Any:
        """A request or response body: masked JSON when it is JSON, else masked text."""
        if not content:
            return None
        text = content.decode("utf-8", "replace")
        try:
            return {"json": self.json(json.loads(text))}
        except ValueError:
            return {"text": self.text(text)}


def exchange_key(method: str, path: str, query: Sequence[tuple[str, str]], body: Any) -> str:
    """What a request is matched by on replay: all of it, masked."""
    return json.dumps([method, path, sorted(query), body], sort_keys=True, ensure_ascii=False)


def _relative(url: httpx.URL, root_path: str) -> str:
    path = url.path
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests on and appends each exchange, masked, to a JSON-lines file."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, folder: Path, api_root: str, scrub: Callable[[str], str]
    ) -> None:
        self._inner = inner
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"sprinklr-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.jsonl"
        self._root = urlsplit(api_root).path.rstrip("/")
        self._mask = Masker(scrub)
        self._lock = anyio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request, then record the exchange."""
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        path = _relative(request.url, self._root)
        token = path == TOKEN_PATH
        record = {
            "method": request.method,
            "path": path,
            "query": [[k, self._mask.text(v)] for k, v in request.url.params.multi_items()],
            "body": {"text": "[token request]"} if token else self._mask.body(request.content),
            "status": response.status_code,
            "headers": {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
            "response": {"text": "[token answer]"} if token else self._mask.body(content),
        }
        line = json.dumps(record, ensure_ascii=False)
        async with self._lock:
            await anyio.to_thread.run_sync(self._append, line)
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, extensions=response.extensions
        )

    def _append(self, line: str) -> None:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers requests from a recording; an exchange recorded twice is answered in its recorded order."""

    def __init__(self, records: Iterable[dict[str, Any]], api_root: str) -> None:
        self._root = urlsplit(api_root).path.rstrip("/")
        # Secrets are not needed to match requests (token requests are blanked): the patterns mask as recorded.
        self._mask = Masker(Scrubber())
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            key = exchange_key(record["method"], record["path"], [tuple(q) for q in record["query"]], record["body"])
            self._answers.setdefault(key, []).append(record)
        self.missed: list[str] = []

    @classmethod
    def from_file(cls, path: Path, api_root: str) -> ReplayTransport:
        """A replay of a recording file."""
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls((json.loads(line) for line in lines if line.strip()), api_root)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """The recorded answer to this request, or a 404 saying it was not recorded."""
        path = _relative(request.url, self._root)
        body = {"text": "[token request]"} if path == TOKEN_PATH else self._mask.body(request.content)
        query = [(k, self._mask.text(v)) for k, v in request.url.params.multi_items()]
        key = exchange_key(request.method, path, query, body)
        queue = self._answers.get(key)
        if not queue:
            self.missed.append(f"{request.method} {path}")
            payload = {"data": None, "errors": [{"code": 404, "message": "not in the recording"}]}
            return httpx.Response(404, json=payload)
        record = queue.pop(0) if len(queue) > 1 else queue[0]
        answer = record.get("response") or {}
        content = json.dumps(answer["json"]).encode() if "json" in answer else str(answer.get("text", "")).encode()
        return httpx.Response(record["status"], headers=record.get("headers") or {}, content=content)
