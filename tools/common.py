"""What every tool shares: its dependencies from the lifespan, result building, text rendering and search cursors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cachetools import LRUCache
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from server.errors import BadRequest
from server.models import SearchPage
from server.runtime import AppContext
from server.settings import Settings
from server.sprinklr import SearchEntity, SprinklrClient
from tools.text import Fence
from tools.views import UNTRUSTED_NOTE

Q = TypeVar("Q", bound=BaseModel)

# Sprinklr forgets a search cursor after 5 minutes; ours are not trusted past 4.5.
CURSOR_LIFETIME_SECONDS = 270.0


@dataclass
class Deps:
    """The shared objects a tool call works with."""

    client: SprinklrClient
    settings: Settings
    app: AppContext
    fence: Fence

    @property
    def budget_chars(self) -> int:
        """The output budget of one call, in characters (about four per token)."""
        return self.settings.output_budget_tokens * 4

    @property
    def text_limit(self) -> int:
        """The most characters of one text field shown in full detail: the budget, less room for the rest."""
        return max(1000, self.budget_chars - 2000)


def deps(ctx: Context) -> Deps:
    """The lifespan's shared objects, and a fresh fence for this call's customer text."""
    app = cast(AppContext, ctx.request_context.lifespan_context)
    return Deps(client=app.client, settings=app.settings, app=app, fence=Fence(redact_pii=app.settings.redact_pii))


def result(
    view: BaseModel, head: str = "", tail: str = "", *, body: str | None = None, untrusted: bool = True
) -> CallToolResult:
    """A tool result: the view as structured content (nulls left out), and as text: head, the view (or only its
    `body` field) rendered readably, tail. The view is dumped once for both."""
    structured = view.model_dump(mode="json", exclude_none=True)
    text = "\n".join(part for part in (head, render(structured.get(body) if body else structured), tail) if part)
    if untrusted and "<<untrusted:" in text:
        text += f"\n\n({UNTRUSTED_NOTE})"
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


# A fence id no customer text can contain (clean() turns control characters into spaces): rendered results are
# kept with it and given each call's own id on the way out.
NONCE_SLOT = "\x00"
# Small: it holds whole results outside the cache bound; a hot case is what it is for.
_rendered: LRUCache[tuple[int, str], tuple[object, Settings, CallToolResult]] = LRUCache(maxsize=64)


def rendered(record: object, variant: str, d: Deps, render: Callable[[Fence], CallToolResult]) -> CallToolResult:
    """The result showing `record` (a parsed, cached wire model), rendered once per record and variant.

    A cache hit returns the same record object, so its view is not built and rendered again on every call;
    only the fence id is new each time.
    """
    key = (id(record), variant)
    kept = _rendered.get(key)
    # The entry holds the record and settings themselves, so neither id can be reused while it lives.
    if kept is None or kept[0] is not record or kept[1] is not d.settings:
        kept = (record, d.settings, render(Fence(redact_pii=d.fence.redact_pii, nonce=NONCE_SLOT)))
        _rendered[key] = kept
    return _with_nonce(kept[2], d.fence.nonce)


def _with_nonce(template: CallToolResult, nonce: str) -> CallToolResult:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(NONCE_SLOT, nonce) if NONCE_SLOT in value else value
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value

    text = "".join(getattr(block, "text", "") for block in template.content)
    return CallToolResult(
        content=[TextContent(type="text", text=text.replace(NONCE_SLOT, nonce))],
        structured_content=fill(template.structured_content),
    )


def fit(views: Sequence[BaseModel], budget_chars: int) -> int:
    """How many of these views, in order, fit in the output budget; always at least one, so paging moves on."""
    used = 0
    for count, view in enumerate(views):
        used += len(view.model_dump_json(exclude_none=True))
        if count and used > budget_chars:
            return count
    return len(views)


def render(value: Any, indent: int = 0) -> str:
    """A compact, YAML-like text form of a view's structured content, for people and models."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None or item == [] or item == {}:
                continue
            if isinstance(item, dict) and set(item) == {"utc", "epoch_ms"}:
                lines.append(f"{pad}{key}: {item['utc']}")
            elif isinstance(item, dict | list):
                lines.append(f"{pad}{key}:")
                lines.append(render(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                body = render(item, indent + 1).lstrip()
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return "\n".join(line for line in lines if line.strip())


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def encode_cursor(payload: dict[str, Any]) -> str:
    """An opaque, URL-safe cursor the model passes back for the next page."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query_model: type[Q]) -> tuple[dict[str, Any], Q]:
    """Decode a cursor made by encode_cursor; its query is validated again, exactly like fresh tool arguments."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        query = query_model.model_validate(payload.get("q", {}))
    except (ValueError, ValidationError, TypeError):
        raise ToolError(
            "The cursor is not one this server issued (or it was altered). Pass back next_cursor exactly as "
            "returned, or start the search again without a cursor."
        ) from None
    return payload, query


async def search_page(
    client: SprinklrClient,
    entity: SearchEntity,
    payload: dict[str, Any] | None,
    body_from: Callable[[int], dict[str, Any]],
) -> tuple[SearchPage, int]:
    """The first page of a search, or the page a cursor points at; returns (page, offset of its first result).

    `body_from(offset)` builds the search body starting at a position. Sprinklr's own cursor is used while it
    lives; past its 5-minute life, or when Sprinklr refuses it, the same search is re-run from the same position
    (safe: the query is the same and already validated), so the model never sees an expired cursor.
    """
    if payload is None:
        return await client.search(entity, body_from(0)), 0
    offset = payload.get("o")
    offset = offset if isinstance(offset, int) and 0 <= offset <= 1_000_000 else 0
    upstream = payload.get("c")
    issued = payload.get("t")
    alive = isinstance(issued, int | float) and time.time() - issued < CURSOR_LIFETIME_SECONDS
    if isinstance(upstream, str) and alive:
        try:
            return await client.search_next(entity, upstream), offset
        except BadRequest:
            pass  # Sprinklr no longer knows the cursor: fall back to re-running the search
    return await client.search(entity, body_from(offset)), offset
