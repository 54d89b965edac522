"""What every tool shares: its dependencies from the lifespan, result building, text rendering and search cursors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from server.app import AppContext
from server.settings import Settings
from server.sprinklr import SprinklrClient
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


def result(view: BaseModel, text: str, *, untrusted: bool = True) -> CallToolResult:
    """A tool result: the view as structured content (nulls left out) and a readable text form."""
    note = f"\n\n({UNTRUSTED_NOTE})" if untrusted and "<<untrusted:" in text else ""
    return CallToolResult(
        content=[TextContent(type="text", text=text + note)],
        structured_content=view.model_dump(mode="json", exclude_none=True),
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


def cursor_expired(payload: dict[str, Any]) -> bool:
    """True when the Sprinklr cursor inside is past (or near) its 5-minute life."""
    issued = payload.get("t")
    return not isinstance(issued, int | float) or time.time() - issued > CURSOR_LIFETIME_SECONDS
