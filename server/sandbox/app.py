"""The Starlette app that answers like Sprinklr's read API, refuses and records writes, and has an admin API."""

from __future__ import annotations

import copy
import html
import json
import random
import re
import zlib
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from server.sandbox import search
from server.sandbox.config import SandboxConfig
from server.sandbox.data import MESSAGE_TYPES, Dataset, cached_dataset
from server.sandbox.state import Fault, Sandbox

JSON = dict[str, Any]
JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"
ADMIN_PREFIX = "/__sandbox__"
TOKEN_ROUTE = "POST oauth/token"
SEARCHABLE = ("CASE", "MESSAGE", "PROFILE", "USER", "CUSTOM_FIELD")
# Documented entity types the sandbox has no data for: they answer with empty results rather than an error.
EMPTY_ENTITY_TYPES = ("CAMPAIGN", "TASK", "COMMENT")
DEFAULT_PAGE_SIZE = 20
# What the missing_fields fault drops: documented fields a client might wrongly treat as always present.
DROPPABLE = (
    "subject",
    "description",
    "createdTime",
    "modifiedTime",
    "priority",
    "language",
    "senderProfile",
    "contact",
)
# Credentials are never echoed by GET /__sandbox__/config.
SECRETS = frozenset({"api_key", "access_token", "refresh_token", "api_secret"})
UNKNOWN_FIELDS: JSON = {"sprSandboxFutureField": "added by the unknown_fields fault", "experimentalFlags": {"v3": True}}
# With partial_errors, about one in PARTIAL_ONE_IN of the items a multi-item read asks for is left out and listed
# in `errors`, and at least one in a read of PARTIAL_SURE or more; which ones depends only on the request, so the
# same request always misses the same items, and an item asked for alone is always there.
PARTIAL_ONE_IN = 33
PARTIAL_SURE = 10
# The native-id part of the made-up message ids the associated_endless fault hands out.
ENDLESS = "sbxendless"
_ENDLESS_ID = re.compile(
    r"(?P<source_type>[A-Z]+(?:_[A-Z]+)*)_(?P<source_id>[^_]+)_(?P<time>\d+)_(?P<channel>[A-Z]+(?:_[A-Z]+)*)_\d+_"
    + ENDLESS
    + r"\d+"
)


@dataclass(slots=True)
class Reply:
    """An answer before it is put on the wire: a JSON payload or raw bytes, plus headers."""

    status: int
    payload: Any = None
    body: bytes | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The body bytes, serialising the payload as compact UTF-8 JSON."""
        if self.body is not None:
            return self.body
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode()


def _errors(status: int, message: str, *, with_data: bool = False, **extra: Any) -> Reply:
    """A Sprinklr-style JSON error; not-found answers also carry "data": null, as Sprinklr's do."""
    body: JSON = {"data": None} if with_data else {}
    body["errors"] = [{"code": status, "message": message, **extra}]
    return Reply(status, body)


def _withheld(items: list[Any]) -> set[Any]:
    """The items partial_errors leaves out of a multi-item answer (deterministic, ~3%, at least one of ten)."""
    if len(items) < 2:
        return set()
    hashes = {item: zlib.crc32(str(item).encode()) for item in items}
    chosen = {item for item, value in hashes.items() if value % PARTIAL_ONE_IN == 0}
    if not chosen and len(items) >= PARTIAL_SURE:
        chosen = {min(hashes, key=lambda item: hashes[item])}
    return chosen


def _html(status: int, text: str, **headers: str) -> Reply:
    """The API gateway's own HTML answers (key and rate-limit refusals)."""
    return Reply(status, body=f"<h1>{text}</h1>".encode(), content_type=HTML_TYPE, headers=headers)


UNAUTHORIZED = _errors(401, "Unauthorized: invalid or expired token")


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    sandbox: Sandbox
    request: Request
    params: dict[str, str]
    fault: Fault | None = None

    @property
    def dataset(self) -> Dataset:
        """The data being served."""
        return self.sandbox.dataset

    @property
    def config(self) -> SandboxConfig:
        """The settings in force for this request."""
        return self.sandbox.config

    async def json_body(self) -> Any:
        """The request body as JSON; raises ValueError if it is not JSON."""
        return json.loads(await self.request.body() or b"null")

    def ok(self, data: Any, errors: list[JSON] | None = None) -> Reply:
        """A success: in the envelope, or the data alone when envelope=bare (errors beside data are then lost)."""
        if self.config.envelope == "bare":
            return Reply(200, data)
        return Reply(200, {"data": data, "errors": errors or []})

    def ids(self, page: list[str]) -> Reply:
        """Associated message ids: a bare array as the reference shows, enveloped only when envelope=enveloped_all."""
        return self.ok(page) if self.config.envelope == "enveloped_all" else Reply(200, page)


Handler = Callable[[Call], Awaitable[Reply]]


# -- handlers -------------------------------------------------------------------------------------------------------


async def case_numbers(call: Call) -> Reply:
    """GET api/v2/case/case-numbers: cases by number; the parameter may repeat or hold a comma-separated list."""
    raw = call.request.query_params.getlist("case-number")
    parts = [part.strip() for chunk in raw for part in chunk.split(",") if part.strip()]
    if not parts:
        return _errors(400, "Missing required parameter 'case-number'")
    bad = next((p for p in parts if not p.isdigit()), None)
    if bad is not None:
        return _errors(400, f"Parameter 'case-number' must be an integer, got {bad!r}")
    if len(parts) > call.config.bulk_fetch_max:
        return _errors(400, f"At most {call.config.bulk_fetch_max} values of 'case-number' per request")
    numbers = [int(p) for p in parts]
    by_number = call.dataset.case_by_number
    found = [by_number[n] for n in numbers if n in by_number]
    if not found:
        return _errors(404, "Case not found", with_data=True)
    errors = [{"code": 404, "message": "Case not found", "caseNumber": n} for n in numbers if n not in by_number]
    if call.config.partial_errors:
        withheld = _withheld([c["caseNumber"] for c in found])
        found = [c for c in found if c["caseNumber"] not in withheld]
        errors += [{"code": 500, "message": "Case temporarily unavailable", "caseNumber": n} for n in sorted(withheld)]
    return call.ok(found, errors)


async def case_by_id(call: Call) -> Reply:
    """GET api/v2/case/{caseId}."""
    case = call.dataset.case_by_id.get(call.params["case_id"])
    return call.ok(case) if case else _errors(404, "Case not found", with_data=True)


async def associated_messages(call: Call) -> Reply:
    """GET api/v2/case/associated-messages: the ids of the next page of messages after the cursor time.

    The page is the next associated_page_size messages by time, then put in associated_order; the cursor is
    always a time, so a client must take the newest time in a page, not the last id's.
    """
    query = call.request.query_params
    case_id = query.get("id")
    if not case_id:
        return _errors(400, "Missing required parameter 'id'")
    ids = call.dataset.case_message_ids.get(case_id)
    if ids is None:
        return _errors(404, "Case not found", with_data=True)
    cursor: int | None = None
    if (raw := query.get("cursor")) is not None:
        try:
            cursor = int(raw)
        except ValueError:
            return _errors(400, f"Parameter 'cursor' must be epoch milliseconds, got {raw!r}")
    size = call.config.associated_page_size
    kind = call.fault.kind if call.fault else None
    if kind == "associated_repeat":
        page = ids[:size]
    elif kind == "associated_endless":
        page = _endless_page(call, ids, cursor, size)
    else:
        start = 0 if cursor is None else bisect_right(call.dataset.case_message_times[case_id], cursor)
        page = ids[start : start + size]
    return call.ids(_in_order(page, call.config.associated_order, f"{case_id}:{cursor}"))


def _in_order(page: list[str], order: str, salt: str) -> list[str]:
    """A page of ids (oldest first) in the configured order; a shuffle is the same for the same request."""
    if order == "desc":
        return page[::-1]
    if order == "shuffled":
        shuffled = list(page)
        random.Random(salt).shuffle(shuffled)
        return shuffled
    return page


def _endless_page(call: Call, ids: list[str], cursor: int | None, size: int) -> list[str]:
    """A full page of ids never seen before, a second apart after the cursor: a conversation that never ends."""
    first = call.sandbox.base_dataset.message_by_id[ids[0]] if ids else None
    channel = first["channelType"] if first else "TWITTER"
    prefix = f"{first['sourceType']}_{first['sourceId']}" if first else "ACCOUNT_1"
    after = cursor if cursor is not None else (first["channelCreatedTime"] - 1 if first else 0)
    code = MESSAGE_TYPES.get(channel, (1,))[0]
    times = [after + 1000 * (k + 1) for k in range(size)]
    return [f"{prefix}_{t}_{channel}_{code}_{ENDLESS}{t}" for t in times]


def _endless_message(message_id: str) -> JSON | None:
    """The message behind an id from the associated_endless fault, so that reading those pages works too."""
    found = _ENDLESS_ID.fullmatch(message_id)
    if found is None:
        return None
    t = int(found["time"])
    return {
        "messageId": message_id,
        "sourceType": found["source_type"],
        "sourceId": found["source_id"],
        "content": {"text": f"Still here, message {t}."},
        "channelType": found["channel"],
        "channelCreatedTime": t,
        "createdTime": t,
        "modifiedTime": t,
        "brandPost": False,
        "language": "en",
    }


async def bulk_fetch(call: Call) -> Reply:
    """POST api/v2/message/bulk-fetch: messages in request order; unknown ids are listed as errors."""
    try:
        ids = await call.json_body()
    except ValueError:
        return _errors(400, "Request body must be a JSON array of message ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return _errors(400, "Request body must be a JSON array of message ids")
    limit = call.config.bulk_fetch_max
    if len(ids) > limit:
        return _errors(400, f"At most {limit} message ids per bulk-fetch request, got {len(ids)}")
    by_id = call.dataset.message_by_id
    found, errors = [], []
    withheld = _withheld([i for i in ids if i in by_id]) if call.config.partial_errors else set()
    for message_id in ids:
        message = by_id.get(message_id) or _endless_message(message_id)
        if message is None:
            errors.append({"code": 404, "message": "Message not found", "id": message_id})
        elif message_id in withheld:
            errors.append({"code": 500, "message": "Message temporarily unavailable", "id": message_id})
        else:
            found.append(message)
    return call.ok(found, errors)


async def message_by_id(call: Call) -> Reply:
    """GET api/v2/message/byMessageId."""
    message_id = call.request.query_params.get("messageId")
    if not message_id:
        return _errors(400, "Missing required parameter 'messageId'")
    message = call.dataset.message_by_id.get(message_id)
    return call.ok(message) if message else _errors(404, "Message not found", with_data=True)


async def profile_by_id(call: Call) -> Reply:
    """GET api/v2/profile/{profileId}: a path the reference never documents, served only with undocumented_paths."""
    if not call.config.undocumented_paths:
        return await unknown_endpoint(call)
    profile = call.dataset.profile_by_id.get(call.params["profile_id"])
    return call.ok(profile) if profile else _errors(404, "Profile not found", with_data=True)


def _page(call: Call, entity_type: str, results: list[JSON], offset: int, size: int, total: int | None) -> Reply:
    """One page of results and, if more remain, a cursor for the next ("id=..." as the reference shows it)."""
    end = offset + size
    cursor = call.sandbox.issue_cursor(entity_type, results, end, size, total) if end < len(results) else None
    if cursor is not None and call.config.cursor_prefix:
        cursor = f"id={cursor}"
    data: JSON = {"results": results[offset:end], "cursor": cursor}
    if total is not None:
        data["totalCount"] = total
    return call.ok(data)


def _rules(config: SandboxConfig) -> search.Rules:
    """The search rules the knobs in force stand for."""
    return search.Rules(
        extended_keys=config.filter_keys == "extended",
        created_only_sorts=config.sort_keys == "created_only",
        time_filter=config.time_filter,
        absent_deleted_is_false=config.message_deleted == "absent_is_false",
    )


async def search_entities(call: Call) -> Reply:
    """POST api/v2/search/{entityType}: filter, sort and page CASE, MESSAGE, PROFILE, USER or CUSTOM_FIELD.

    page.start is the 1-based position of the first result, or with page_start=page the 1-based number of a page
    of page.size results; 0 and 1 both mean the first.
    """
    entity_type = call.params["entity"].upper()
    try:
        body = await call.json_body()
    except ValueError:
        return _errors(400, "Request body must be a JSON object")
    if not isinstance(body, dict):
        return _errors(400, "Request body must be a JSON object")
    if entity_type not in SEARCHABLE + EMPTY_ENTITY_TYPES:
        return _errors(400, f"Unsupported entity type '{call.params['entity']}'")
    page = body.get("page") or {}
    if not isinstance(page, dict):
        return _errors(400, "'page' must be an object")
    size, start = page.get("size", DEFAULT_PAGE_SIZE), page.get("start", 0)
    limit = call.config.search_page_max
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        return _errors(400, f"page.size must be an integer between 1 and {limit}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        return _errors(400, "page.start must be a non-negative integer")
    include_count = bool(body.get("includeCount", False))
    rules = _rules(call.config)
    try:
        searchable = entity_type in SEARCHABLE
        predicate = search.compile_filter(entity_type, body.get("filter"), rules) if searchable else None
        order = search.compile_sorts(body.get("sorts"), rules)
        if entity_type == "MESSAGE":
            window = search.time_window(body.get("timeFilter"), rules.time_filter)
    except search.QueryError as exc:
        return _errors(400, str(exc))
    dataset = call.dataset
    plain = {
        "CASE": dataset.cases,
        "PROFILE": dataset.profiles,
        "USER": dataset.users,
        "CUSTOM_FIELD": dataset.custom_fields,
    }
    if predicate is None:
        results: list[JSON] = []
    elif entity_type in plain:
        results = search.select(plain[entity_type], predicate)
    else:
        if window.key == "channelCreatedTime":
            candidates = dataset.messages_between(window.since, window.until)
        else:
            candidates = [m for m in dataset.messages if window.since <= m[window.key] <= window.until]
        results = search.select(candidates, predicate)
    results = order(results)
    offset = max(0, start - 1) * (size if call.config.page_start == "page" else 1)
    return _page(call, entity_type, results, offset, size, len(results) if include_count else None)


async def search_next_page(call: Call) -> Reply:
    """GET api/v2/search/{entityType}?id={cursor}: the next page of an earlier search."""
    cursor_id = call.request.query_params.get("id")
    cursor = call.sandbox.cursor(cursor_id) if cursor_id else None
    if cursor is None or cursor.entity_type != call.params["entity"].upper():
        return _errors(400, "Cursor expired or invalid")
    return _page(call, cursor.entity_type, cursor.results, cursor.offset, cursor.size, cursor.total)


async def unknown_endpoint(call: Call) -> Reply:
    """A read of a path the sandbox does not simulate."""
    return _errors(404, "Unknown endpoint", with_data=True)


async def token(call: Call) -> Reply:
    """POST oauth/token with grant_type=refresh_token: each refresh token works once."""
    form = await _form(call.request)
    if form.get("grant_type") != "refresh_token":
        return Reply(400, {"error": "unsupported_grant_type"})
    tokens = call.sandbox.refresh(
        form.get("client_id", ""), form.get("client_secret", ""), form.get("refresh_token", "")
    )
    return Reply(200, tokens) if tokens else Reply(401, {"error": "invalid_grant"})


async def _form(request: Request) -> dict[str, str]:
    """Token parameters from the query string and a form-encoded body (Sprinklr accepts either)."""
    values = dict(request.query_params)
    body = (await request.body()).decode("utf-8", "replace")
    values.update({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})
    return values


ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (method, re.compile(pattern), name, handler)
    for method, pattern, name, handler in (
        ("GET", r"api/v2/case/case-numbers", "GET case-numbers", case_numbers),
        ("GET", r"api/v2/case/associated-messages", "GET associated-messages", associated_messages),
        ("GET", r"api/v2/case/(?P<case_id>[^/]+)", "GET case", case_by_id),
        ("POST", r"api/v2/message/bulk-fetch", "POST bulk-fetch", bulk_fetch),
        ("GET", r"api/v2/message/byMessageId", "GET byMessageId", message_by_id),
        ("GET", r"api/v2/profile/(?P<profile_id>[^/]+)", "GET profile", profile_by_id),
        ("POST", r"api/v2/search/(?P<entity>[^/]+)", "POST search", search_entities),
        ("GET", r"api/v2/search/(?P<entity>[^/]+)", "GET search", search_next_page),
        # A documented read (the reference's v1 case search) that the sandbox does not simulate; it is a read,
        # so it must not show up as a write attempt.
        ("POST", r"api/v1/case/search", "POST v1 case search", unknown_endpoint),
        ("POST", r"oauth/token", TOKEN_ROUTE, token),
    )
]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def match(method: str, rest: str) -> tuple[str, Handler | None, dict[str, str]]:
    """Route name, handler and path parameters for a path below /{env}/; no handler means a write attempt."""
    for route_method, pattern, name, handler in ROUTES:
        if route_method == method and (found := pattern.fullmatch(rest)):
            params = found.groupdict()
            if "entity" in params:
                name = f"{name}/{params['entity'].upper()}"
            return name, handler, params
    if method in READ_METHODS:
        return f"{method} unknown", unknown_endpoint, {}
    return "WRITE", None, {}


# -- faults -----------------------------------------------------------------------------------------------------------


class _DropConnection(Exception):
    """Raised inside the pipeline to make the connection close without (or midway through) a response."""


def _without(entity: Any, keys: tuple[str, ...]) -> Any:
    """A shallow copy of an entity without some keys (the dataset itself is never changed)."""
    if not isinstance(entity, dict):
        return entity
    return {k: v for k, v in entity.items() if k not in keys}


def _with_unknown(entity: Any) -> Any:
    """A shallow copy of an entity with fields Sprinklr might add one day."""
    return {**entity, **copy.deepcopy(UNKNOWN_FIELDS)} if isinstance(entity, dict) else entity


def _map_entities(payload: Any, change: Callable[[Any], Any]) -> Any:
    """Apply a change to every entity of a success: data, data[...] or data.results[...], enveloped or bare."""
    enveloped = isinstance(payload, dict) and "data" in payload and "errors" in payload
    data = payload["data"] if enveloped else payload
    if data is None:
        return payload
    if isinstance(data, list):
        data = [change(item) for item in data]
    elif isinstance(data, dict) and isinstance(data.get("results"), list):
        data = {**data, "results": [change(item) for item in data["results"]]}
    else:
        data = change(data)
    return {**payload, "data": data} if enveloped else data


def _failure(kind: str) -> Reply:
    """The answer an immediate fault of this kind produces, in the shape a backend or the gateway would use."""
    if kind == "401":
        return UNAUTHORIZED
    if kind == "502":
        return Reply(502, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type=HTML_TYPE)
    if kind == "503":
        reply = _errors(503, "Service temporarily unavailable")
        reply.headers["Retry-After"] = "1"
        return reply
    if kind == "null_data":
        # A success status whose body says it failed: the data is null and the reason is in errors.
        return Reply(200, {"data": None, "errors": [{"code": 500, "message": "Internal error while reading data"}]})
    return _errors(500, "Internal server error")


ECHOED_FIRST = frozenset({"key", "authorization", "client_id", "client_secret", "refresh_token"})


async def _echo(request: Request, name: str, fault: Fault) -> Reply:
    """A misconfigured gateway's refusal that repeats the request, credentials and all, in its body and headers."""
    echoed = dict(request.headers.items())
    if name == TOKEN_ROUTE:
        echoed.update(await _form(request))  # the refresh token and API secret travel in the form
    # Credentials first, so that they fall inside even a short excerpt of the answer.
    echoed = dict(sorted(echoed.items(), key=lambda item: item[0] not in ECHOED_FIRST))
    lines = [f"{key}: {value}" for key, value in echoed.items()]
    if fault.shape == "json":
        reply = _errors(fault.status, "Request rejected; it was: " + "; ".join(lines), request={"headers": echoed})
    elif fault.shape == "text":
        body = f"{fault.status} Request rejected\n" + "\n".join(lines)
        reply = Reply(fault.status, body=body.encode(), content_type="text/plain;charset=UTF-8")
    else:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in echoed.items())
        body = f"<html><body><h1>{fault.status} Request rejected</h1><table>{rows}</table></body></html>"
        reply = Reply(fault.status, body=body.encode(), content_type=HTML_TYPE)
    reply.headers.update({f"X-Echo-{key}": value for key, value in echoed.items() if key != "content-length"})
    return reply


# -- the Sprinklr side ------------------------------------------------------------------------------------------------


class SprinklrAPI:
    """The raw ASGI app for /{env}/...: logging, gateway checks, faults, then the handler.

    It is raw ASGI rather than Starlette routes because two faults need to break the connection itself.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        """Serve this sandbox's state."""
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request, recording it first."""
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        env, rest = _environment(path)
        if not rest:
            message = "Not a Sprinklr API path"
            if env == "prod":
                message += ": the prod environment has no environment segment (use /api/v2/...)"
            await _send(send, Reply(404, {"errors": [{"code": 404, "message": message}]}))
            return
        method: str = scope["method"]
        name, handler, params = match(method, rest)
        entry = self.sandbox.record(method, path, name)
        request = Request(scope, receive)
        try:
            reply, fault = await self._answer(request, env, method, path, name, handler, params)
            entry["status"] = reply.status
            await self._deliver(reply, fault, send)
        except _DropConnection:
            entry["status"] = 0
            await _drop(receive)

    async def _answer(
        self,
        request: Request,
        env: str,
        method: str,
        path: str,
        name: str,
        handler: Handler | None,
        params: dict[str, str],
    ) -> tuple[Reply, Fault | None]:
        """Run the gateway's checks in Sprinklr's order, then the handler; return the reply and any late fault."""
        sandbox = self.sandbox
        config = sandbox.config
        if config.latency_ms:
            await anyio.sleep(config.latency_ms / 1000)
        if handler is None:
            # Recorded before anything else can refuse it: a write attempt is the event tests look for.
            sandbox.record_write(method, path)
        if env != config.env:
            return _errors(421, f"API key is not valid for environment {env}"), None
        if handler is None:
            return _errors(405, "write operations are not available in the sandbox"), None
        if name == TOKEN_ROUTE:
            # The token endpoint is outside the API key gate, but its calls still count against the key's rate.
            key = (await _form(request)).get("client_id", "")
        else:
            key = request.headers.get("key", "")
            if key != config.api_key:
                return _html(403, "Developer Inactive", **{"X-Mashery-Error-Code": "ERR_403_DEVELOPER_INACTIVE"}), None
        retry_after = sandbox.admit(key)
        if retry_after is not None:
            headers = {"X-Mashery-Error-Code": "ERR_403_DEVELOPER_OVER_RATE"}
            if config.retry_after:
                headers["Retry-After"] = str(retry_after)
            return _html(config.rate_limit_status, "Developer Over Rate", **headers), None
        fault = sandbox.take_fault(path)
        if fault is not None:
            if fault.kind == "reset":
                raise _DropConnection
            if fault.kind in ("500", "502", "503", "401", "null_data"):
                return _failure(fault.kind), None
            if fault.kind == "echo_headers":
                return await _echo(request, name, fault), None
            if fault.kind == "slow":
                await anyio.sleep(fault.delay_ms / 1000)
                fault = None
        if name != TOKEN_ROUTE:
            scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not sandbox.token_valid(bearer.strip()):
                return UNAUTHORIZED, None
        return await handler(Call(sandbox, request, params, fault)), fault

    async def _deliver(self, reply: Reply, fault: Fault | None, send: Send) -> None:
        """Send the reply, damaged as the fault asks."""
        kind = fault.kind if fault else None
        if kind == "missing_fields" and reply.body is None:
            reply.payload = _map_entities(reply.payload, lambda e: _without(e, DROPPABLE))
        elif kind == "unknown_fields" and reply.body is None:
            reply.payload = _map_entities(reply.payload, _with_unknown)
            if isinstance(reply.payload, dict):
                reply.payload = {**reply.payload, "meta": {"sandbox": "unknown top-level field"}}
        body = reply.encode()
        if kind == "malformed_json":
            await _send(send, Reply(reply.status, body=body[: len(body) // 2] + b"<!-- upstream timeout -->"))
        elif kind == "truncated":
            # Promise the whole body, send half, then hang up: the client sees the connection end early.
            await send({"type": "http.response.start", "status": reply.status, "headers": _headers(reply, len(body))})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise _DropConnection
        else:
            await _send(send, reply, body)


def _environment(path: str) -> tuple[str, str]:
    """The environment a path addresses and the rest of it; the global prod environment has no segment.

    /api/v2/... and /oauth/token are prod's; /prod2/api/v2/... is prod2's. /prod/... has no rest: it is no path.
    """
    first, _, rest = path.strip("/").partition("/")
    if first in ("api", "oauth"):
        return "prod", path.strip("/")
    if first == "prod":
        return "prod", ""
    return first, rest


def _headers(reply: Reply, length: int) -> list[tuple[bytes, bytes]]:
    """ASGI headers for a reply with a given Content-Length."""
    headers = [(b"content-type", reply.content_type.encode()), (b"content-length", str(length).encode())]
    headers.extend((k.lower().encode(), v.encode()) for k, v in reply.headers.items())
    return headers


async def _send(send: Send, reply: Reply, body: bytes | None = None) -> None:
    """Put a complete reply on the wire."""
    body = reply.encode() if body is None else body
    await send({"type": "http.response.start", "status": reply.status, "headers": _headers(reply, len(body))})
    await send({"type": "http.response.body", "body": body})


async def _drop(receive: Receive) -> None:
    """Close the client's connection abruptly, so that it sees a transport error rather than an HTTP answer.

    ASGI has no way to say this, so it reaches the server's transport through the receive callable uvicorn
    hands us (a bound method of its request cycle). Without one (an in-process ASGI transport), it raises.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionResetError("sandbox fault: connection dropped")
    transport.abort()
    # Wait until the server has seen the connection go, so it does not try to answer on it.
    with anyio.move_on_after(1):
        while (await receive())["type"] != "http.disconnect":
            pass


# -- admin API ----------------------------------------------------------------------------------------------------


class AdminAPI:
    """/__sandbox__/: inspect and steer the sandbox; no auth, no rate limit, not in the request log."""

    def __init__(self, sandbox: Sandbox) -> None:
        """Steer this sandbox."""
        self.sandbox = sandbox

    def routes(self) -> list[Route]:
        """The admin endpoints."""
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/stats", self.stats, methods=["GET"]),
            Route("/reset", self.reset, methods=["POST"]),
            Route("/config", self.config, methods=["GET", "POST"]),
            Route("/expire-token", self.expire_token, methods=["POST"]),
            Route("/dataset", self.dataset, methods=["GET"]),
        ]

    async def index(self, request: Request) -> JSONResponse:
        """Where the simulated API lives, for a person poking at the sandbox."""
        config = self.sandbox.config
        root = "" if config.env == "prod" else f"/{config.env}"
        return JSONResponse({"sandbox": "sprinklr", "env": config.env, "api": f"{root}/api/v2/"})

    async def stats(self, request: Request) -> JSONResponse:
        """Requests, writes and rate refusals so far; ?tail=N limits the log to its last N entries."""
        tail = request.query_params.get("tail")
        return JSONResponse(self.sandbox.stats(int(tail) if tail and tail.isdigit() else None))

    async def reset(self, request: Request) -> JSONResponse:
        """Back to the starting state."""
        self.sandbox.reset()
        return JSONResponse({"ok": True})

    async def config(self, request: Request) -> JSONResponse:
        """GET: the settings in force; POST: change some of them and replace the pending faults."""
        if request.method == "POST":
            try:
                changes = await request.json()
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                self.sandbox.configure(changes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        config = self.sandbox.config
        shown = {name: getattr(config, name) for name in config.__dataclass_fields__ if name not in SECRETS}
        shown["explicit"] = sorted(config.explicit)
        shown["anchor_in_force"] = (
            self.sandbox.base_dataset.anchor.isoformat() if self.sandbox.base_dataset.anchor else None
        )
        return JSONResponse({**shown, "knobs": config.knobs(), "faults": [f.as_json() for f in self.sandbox.faults]})

    async def expire_token(self, request: Request) -> JSONResponse:
        """Make the current access token fail until the client refreshes it."""
        self.sandbox.expire_token()
        return JSONResponse({"ok": True})

    async def dataset(self, request: Request) -> JSONResponse:
        """Counts and real example values from the dataset as served (the summary is kept on the dataset)."""
        return JSONResponse(self.sandbox.dataset.summary())


def create_app(config: SandboxConfig | None = None, *, dataset: Dataset | None = None) -> Starlette:
    """Build a sandbox app; its state is `app.state.sandbox`, so several can live in one process."""
    config = config or SandboxConfig()
    if dataset is None:
        dataset = cached_dataset(
            config.seed, config.cases, config.profiles, config.target_messages, config.anchor_date()
        )
    sandbox = Sandbox(config, dataset)
    app = Starlette(
        routes=[Mount(ADMIN_PREFIX, routes=AdminAPI(sandbox).routes()), Mount("", app=SprinklrAPI(sandbox))]
    )
    app.state.sandbox = sandbox
    return app
