"""The read-only guard: an explicit allow-list of (method, path, query names); everything else is refused unsent.

It sits at the bottom of the HTTP stack, so no code path above it (a tool, the client, token refresh, a bug)
can send a write to Sprinklr: a request off the list raises ReadOnlyViolation before a connection is opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2 as httpx

from server.errors import ReadOnlyViolation

# Path segments we build from input are plain ids: letters, digits, '_' and '-'. No dots, no '%', no slashes.
_ID = r"[A-Za-z0-9_-]{1,128}"
_SEARCH_ENTITY = r"(?:CASE|MESSAGE|PROFILE|USER|CUSTOM_FIELD)"


@dataclass(frozen=True)
class Rule:
    """One allowed read: an HTTP method, a path pattern under the API root, and the query names it may carry."""

    method: str
    pattern: re.Pattern[str]
    query: frozenset[str]
    why: str


def _rule(method: str, path: str, query: Iterable[str], why: str) -> Rule:
    return Rule(method, re.compile(f"^{path}$"), frozenset(query), why)


ALLOW_LIST: tuple[Rule, ...] = (
    _rule("GET", "/api/v2/case/case-numbers", ["case-number"], "case by number"),
    _rule("GET", "/api/v2/case/associated-messages", ["id", "cursor"], "a case's message ids"),
    _rule("GET", f"/api/v2/case/{_ID}", [], "case by id"),
    # Bulk-fetch is a POST only because the id list travels in the body; it reads.
    _rule("POST", "/api/v2/message/bulk-fetch", [], "messages by id, in bulk"),
    _rule("GET", "/api/v2/message/byMessageId", ["messageId"], "message by id"),
    # Search is a POST because the filter travels in the body; it reads. Paging by cursor is a GET.
    _rule("POST", f"/api/v2/search/{_SEARCH_ENTITY}", [], "search"),
    _rule("GET", f"/api/v2/search/{_SEARCH_ENTITY}", ["id"], "next search page"),
    # Exchanging a refresh token for an access token changes no Sprinklr data.
    _rule("POST", "/oauth/token", [], "token refresh"),
)

_CASE_RESERVED = {"case-numbers", "associated-messages", "update", "search", "bulk", "delete"}


class ReadOnlyGuard:
    """Decides whether a request is an allowed read against the configured API root."""

    def __init__(self, api_root: str, rules: tuple[Rule, ...] = ALLOW_LIST) -> None:
        parts = urlsplit(api_root)
        self._scheme = parts.scheme
        self._netloc = parts.netloc.lower()
        self._prefix = parts.path.rstrip("/")
        self._rules = rules

    def check(self, method: str, url: httpx.URL) -> Rule:
        """Return the rule that allows this request, or raise ReadOnlyViolation saying why it is refused."""
        method = method.upper()
        raw_path = url.raw_path.decode("ascii", "replace").split("?", 1)[0]
        if url.scheme != self._scheme or url.netloc.decode("ascii", "replace").lower() != self._netloc:
            raise ReadOnlyViolation(
                f"Refused {method} to a host other than the configured Sprinklr API; nothing was sent."
            )
        # Encoded characters, dot segments and doubled slashes are how a path escapes its pattern: refuse them outright.
        if "%" in raw_path or "//" in raw_path or "/." in raw_path or "\\" in raw_path:
            raise ReadOnlyViolation(
                f"Refused {method} with an unusual path (encoded or dot segments); nothing was sent."
            )
        if not raw_path.startswith(self._prefix + "/"):
            raise ReadOnlyViolation(f"Refused {method} outside the Sprinklr API root; nothing was sent.")
        path = raw_path[len(self._prefix) :]
        for rule in self._rules:
            if rule.method == method and rule.pattern.match(path):
                if rule.why == "case by id" and path.rsplit("/", 1)[-1] in _CASE_RESERVED:
                    continue
                names = {key for key, _ in url.params.multi_items()}
                extra = names - rule.query
                if extra:
                    raise ReadOnlyViolation(
                        f"Refused {method} {path}: query parameter(s) {', '.join(sorted(extra))} are not allowed; "
                        f"nothing was sent."
                    )
                return rule
        raise ReadOnlyViolation(
            f"Refused {method} {_describe(path)}: this server only reads from Sprinklr, and that request is not on "
            f"its read-only allow-list. Nothing was sent."
        )


def _describe(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


class ReadOnlyTransport(httpx.AsyncBaseTransport):
    """Transport wrapper that refuses every request the guard does not allow, before passing it on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, guard: ReadOnlyGuard) -> None:
        self._inner = inner
        self._guard = guard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request against the allow-list, then hand it to the wrapped transport."""
        self._guard.check(request.method, request.url)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
