"""What every tool shares: its dependencies, and the one place a result is assembled and held to the output budget.

`result()` dumps the view once (fencing customer text with this result's own id), renders the text the model
reads, appends what is needed to continue (the literal next call), notes and when the data was read, and, if the
whole still exceeds the budget, cuts the largest strings and lists until it fits and says what it cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from server import call
from server.catalog import Catalog
from server.runtime import AppContext
from server.settings import Settings
from server.sprinklr import SprinklrClient
from tools.text import fence_context, line, new_fence_id
from tools.views import UNTRUSTED_NOTE, Names, Page

META = ("read_at", "notes", "cut", "next")
_FENCED = re.compile(r"^(<<untrusted:[0-9a-f]+>>)(.*)(<</untrusted:[0-9a-f]+>>)$", re.DOTALL)
# Rounds of cutting before giving up on a result that will not shrink (it never happens with real views).
_MAX_CUTS = 60


@dataclass
class Deps:
    """The shared objects a tool call works with."""

    app: AppContext
    client: SprinklrClient
    settings: Settings
    catalog: Catalog

    @property
    def pii(self) -> bool:
        """Whether emails, phones and card numbers are masked."""
        return self.settings.redact_pii

    @property
    def budget_chars(self) -> int:
        """The output budget of one call, in characters (about four per token)."""
        return self.settings.output_budget_tokens * 4

    @property
    def text_limit(self) -> int:
        """The most characters of one text field shown in full detail: the budget, less room for the rest."""
        return max(1000, self.budget_chars - 2000)

    async def names(self, *, users: bool = True) -> Names:
        """Names for user, custom-field and queue ids (cached reads; at most one call per kind per period)."""
        return Names(
            users=await self.catalog.user_names() if users else {},
            fields=await self.catalog.field_names(),
            queues=self.catalog.queue_names,
        )


def deps(ctx: Context) -> Deps:
    """The lifespan's shared objects."""
    app = cast(AppContext, ctx.request_context.lifespan_context)
    return Deps(app=app, client=app.client, settings=app.settings, catalog=Catalog(app.client, app.settings))


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def next_line(tool: str, arguments: dict[str, Any], label: str = "Next page") -> str:
    """The literal call that fetches the next page (or the next thing to read), for the model to copy."""
    return f"{label}: {tool} {json.dumps(arguments, ensure_ascii=False, separators=(',', ':'))}"


def result(
    view: Page,
    head: str,
    d: Deps,
    *,
    body: str | None = None,
    next_call: tuple[str, dict[str, Any]] | None = None,
    next_label: str = "Next page",
    untrusted: bool = True,
) -> CallToolResult:
    """A tool result: the view as structured content and as text (head, the view or its `body` field, then the next
    call, notes and when the data was read), within the output budget."""
    scope = call.current()
    if scope.oldest_read is not None:
        view.read_at = datetime.fromtimestamp(scope.oldest_read, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    view.notes = [n for n in (line(note, 300) for note in scope.notes) if n] or None
    if next_call is not None:
        view.next = {"tool": next_call[0], "arguments": next_call[1]}
    fence = new_fence_id()
    structured = view.model_dump(mode="json", exclude_none=True, context=fence_context(fence))
    # The note that explains fences is part of what the model reads, so it counts against the budget too.
    budget = d.budget_chars - (len(UNTRUSTED_NOTE) + 3 if untrusted else 0)
    text = _text(structured, head, body, next_call, next_label)
    if len(text) > budget:
        rows = len(structured[body]) if body and isinstance(structured.get(body), list) else None
        cuts: list[str] = []
        for _ in range(_MAX_CUTS):
            if not _cut_largest(structured, len(text) - budget, cuts):
                break
            structured["cut"] = cuts
            text = _text(structured, head, body, next_call, next_label)
            if len(text) <= budget:
                break
        left = structured.get(body) if body else None
        dropped = rows - len(left) if rows is not None and isinstance(left, list) else 0
        if dropped > 0 and next_call is not None and isinstance(next_call[1].get("offset"), int):
            # Rows the budget cut off this page are the first of the next: the next call starts at them.
            next_call = (next_call[0], {**next_call[1], "offset": next_call[1]["offset"] - dropped})
            structured["next"] = {"tool": next_call[0], "arguments": next_call[1]}
            text = _text(structured, head, body, next_call, next_label)
    if untrusted and "<<untrusted:" in text:
        text += f"\n({UNTRUSTED_NOTE})"
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _text(
    structured: dict[str, Any],
    head: str,
    body: str | None,
    next_call: tuple[str, dict[str, Any]] | None,
    next_label: str = "Next page",
) -> str:
    data = structured.get(body) if body else {k: v for k, v in structured.items() if k not in META}
    parts = [head, render(data)]
    if next_call is not None:
        parts.append(next_line(*next_call, label=next_label))
    if structured.get("cut"):
        parts.append("Cut to fit the output budget: " + "; ".join(structured["cut"]) + ".")
    for note in structured.get("notes") or []:
        parts.append(f"Note: {note}")
    if structured.get("read_at"):
        parts.append(f"Read from Sprinklr at {structured['read_at']}.")
    return "\n".join(part for part in parts if part)


def _cut_largest(data: dict[str, Any], over: int, cuts: list[str]) -> bool:
    """Shorten the largest string, list or map in `data` (outside the meta fields) by about `over` characters.

    A record (an object with fields of its own, like a message or a customer) loses fields only when nothing in it
    is worth shortening: otherwise its largest text, list or map (custom fields, counts) is cut, so a message keeps
    its text, shorter.
    """
    best: tuple[int, Any, Any, str] | None = None
    best_record: tuple[int, Any, Any, str] | None = None

    def visit(node: Any, parent: Any, key: Any, path: str) -> None:
        nonlocal best, best_record
        if isinstance(node, str):
            # Fence marks cannot be cut: a fenced string is as long as the text inside them.
            found = _FENCED.match(node)
            size = len(found.group(2)) if found else len(node)
        elif isinstance(node, list | dict):
            size = len(json.dumps(node, ensure_ascii=False))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for child_key, child in items:
                visit(child, node, child_key, f"{path}.{child_key}" if isinstance(node, dict) else path)
        else:
            return
        if parent is None or (isinstance(node, list) and len(node) < 2):
            return  # a list keeps at least one item (a page its first row, so paging moves on)
        if isinstance(node, dict) and any(not isinstance(v, list | dict) for v in node.values()):
            if best_record is None or size > best_record[0]:
                best_record = (size, parent, key, path)
        elif best is None or size > best[0]:
            best = (size, parent, key, path)

    for key, value in data.items():
        if key not in META:
            visit(value, data, key, key)
    if best is None or best[0] < 40:
        best = best_record
    if best is None or best[0] < 40:
        return False
    size, parent, key, path = best
    node = parent[key]
    if isinstance(node, str):
        keep = max(20, size - over - 40)
        found = _FENCED.match(node)
        if found:
            inner = found.group(2)
            parent[key] = f"{found.group(1)}{inner[: max(10, len(inner) - (size - keep))]} […]{found.group(3)}"
        else:
            parent[key] = node[:keep] + " […]"
        if f"{path} shortened" not in cuts:
            cuts.append(f"{path} shortened")
        return True
    count = len(node)
    least = 1 if isinstance(node, list) else 0
    keep = max(least, min(count - 1, int(count * max(0.0, 1 - (over + 40) / max(size, 1)))))
    if isinstance(node, list):
        parent[key] = node[:keep]
    else:
        parent[key] = dict(list(node.items())[:keep])
    cuts.append(f"{path}: {keep} of {count} shown")
    return True


def fit(views: Sequence[BaseModel], budget_chars: int) -> int:
    """How many of these views, in order, fit in the output budget; always at least one, so paging moves on.

    Each view is measured as the model will read it: rendered as a list item, with fence marks of the real length.
    """
    used = 0
    context = fence_context(new_fence_id())
    for count, view in enumerate(views):
        used += len(render([view.model_dump(mode="json", exclude_none=True, context=context)])) + 1
        if count and used > budget_chars:
            return count
    return len(views)


def render(value: Any, indent: int = 0) -> str:
    """A compact, YAML-like text form of structured content: one field per line, lists as '- '."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None or item == [] or item == {}:
                continue
            if isinstance(item, list) and all(not isinstance(v, dict | list) for v in item):
                lines.append(f"{pad}{key}: {', '.join(_scalar(v) for v in item)}")
            elif isinstance(item, dict | list):
                lines.append(f"{pad}{key}:")
                lines.append(render(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                lines.append(f"{pad}- {render(item, indent + 1).lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    elif value is not None:
        lines.append(f"{pad}{_scalar(value)}")
    return "\n".join(line for line in lines if line.strip())


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
