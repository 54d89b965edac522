"""What every tool shares: its dependencies, and the one place a result is assembled and held to the output budget.

`result()` dumps the view once (fencing customer text with this result's own id), renders the text the model
reads, appends what is needed to continue (the literal next call), notes and when the data was read, and, if the
whole still exceeds the budget, cuts the largest strings and lists until it fits and says what it cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from cachetools import LRUCache
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from server import call
from server.catalog import Catalog, field_names, user_names
from server.runtime import AppContext
from server.settings import Settings
from server.sprinklr import SprinklrClient
from tools.text import HOLD, Fenced, fence_context, fence_text, line, new_fence_id
from tools.views import UNTRUSTED_NOTE, Names, Page, View

V = TypeVar("V", bound=Page)
META = ("read_at", "notes", "cut", "next")
# The last few Names built, with the directories and settings they were built from (compared by identity).
_names: list[tuple[object, object, object, Names]] = []
_NO_USERS: dict[str, Any] = {}
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
        """Names for user, custom-field and queue ids (cached reads; at most one call per kind per period).

        The same Names while the directories and settings are the same, so views built with it can be kept.
        """
        people = await self.client.users() if users else _NO_USERS
        fields = await self.client.custom_fields()
        for kept_people, kept_fields, kept_settings, made in _names:
            if kept_people is people and kept_fields is fields and kept_settings is self.settings:
                return made
        made = Names(
            users=user_names(people),
            fields=field_names(fields, self.settings.custom_fields),
            queues=self.catalog.queue_names,
        )
        _names[:] = [(people, fields, self.settings, made), *_names[:3]]
        return made


# Views of records the memory cache hands back again, keyed by the record object and how it is shown. Small: views
# are bounded by the output budget, and only records the client keeps parsed (small ones) come back as the same
# object. Views hold no fence marks (those are added when a result is dumped), so a kept view is safe to share.
_views: LRUCache[tuple[int, Hashable], tuple[object, object, Page]] = LRUCache(maxsize=64)


def kept_view(record: object, names: Names, variant: Hashable, build: Callable[[], V]) -> V:
    """The view of `record` shown as `variant` with `names`, built once; shared, so callers must not change it
    (result() does not: it adds what differs per call beside the view)."""
    key = (id(record), variant)
    kept = _views.get(key)
    # The entry holds the record and names themselves, so neither id can be another object's while it lives.
    if kept is not None and kept[0] is record and kept[1] is names and isinstance(kept[2], Page):
        return cast(V, kept[2])
    view = build()
    _views[key] = (record, names, view)
    return view


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
    extra: Mapping[str, View] | None = None,
) -> CallToolResult:
    """A tool result: the view as structured content and as text (head, the view or its `body` field, `extra`
    fields after it, then the next call, notes and when the data was read), within the output budget.

    The view is not changed: it may be shared (kept_view). Its dump and text are made once per view object, with
    each fenced value held as an object in its slot (out of band: no character a value could contain marks it), and
    every result fills the slots with its own fence id.
    """
    scope = call.current()
    meta: dict[str, Any] = {}
    if scope.oldest_read is not None:
        meta["read_at"] = datetime.fromtimestamp(scope.oldest_read, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes = [str(n) for n in (line(note, 300) for note in scope.notes) if n]
    if notes:
        meta["notes"] = notes
    if next_call is not None:
        meta["next"] = {"tool": next_call[0], "arguments": next_call[1]}
    fence = new_fence_id()
    template = _template(view, body)
    structured = _fill(template.structured, fence)
    lines = list(template.lines)
    for name, part in (extra or {}).items():
        held = part.model_dump(mode="python", exclude_none=True, context=HOLD)
        structured[name] = _fill(held, fence)
        if body is None:
            lines += _lines({name: held}, 0)
    structured.update(meta)
    text = _assemble(head, lines, fence, structured, next_call, next_label)
    # The note that explains fences is part of what the model reads, so it counts against the budget too.
    budget = d.budget_chars - (len(UNTRUSTED_NOTE) + 3 if untrusted else 0)
    if len(text) > budget:
        text, next_call = _within(structured, head, body, next_call, next_label, budget)
    if untrusted and "<<untrusted:" in text:
        text += f"\n({UNTRUSTED_NOTE})"
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


@dataclass(frozen=True)
class _Template:
    """A view dumped once: its structured content and its text lines, fenced values held as objects in slots."""

    structured: dict[str, Any]
    lines: list[list[str | Fenced]]


# Templates of the views most recently shown, by view object (held, so its id cannot be another's meanwhile).
_templates: LRUCache[tuple[int, str | None], tuple[Page, _Template]] = LRUCache(maxsize=64)


def _template(view: Page, body: str | None) -> _Template:
    key = (id(view), body)
    kept = _templates.get(key)
    if kept is not None and kept[0] is view:
        return kept[1]
    held = view.model_dump(mode="python", exclude_none=True, exclude=set(META), context=HOLD)
    shown = held.get(body) if body else held
    made = _Template(held, _lines(shown, 0))
    _templates[key] = (view, made)
    return made


def _fill(value: Any, fence: str) -> Any:
    """A copy of held content with every Fenced value between this result's marks (JSON-ready)."""
    if type(value) is Fenced:
        return fence_text(value, fence)
    if isinstance(value, dict):
        return {key: _fill(item, fence) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, fence) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


def _assemble(
    head: str,
    lines: list[list[str | Fenced]],
    fence: str,
    structured: dict[str, Any],
    next_call: tuple[str, dict[str, Any]] | None,
    next_label: str,
) -> str:
    """The text: head, the body's lines with this result's fence, then the footer lines."""
    parts = [head] if head else []
    parts += ["".join(fence_text(p, fence) if type(p) is Fenced else p for p in line) for line in lines]
    parts += _footer(structured, next_call, next_label)
    return "\n".join(parts)


def _footer(structured: dict[str, Any], next_call: tuple[str, dict[str, Any]] | None, next_label: str) -> list[str]:
    footer = []
    if next_call is not None:
        footer.append(next_line(*next_call, label=next_label))
    if structured.get("cut"):
        footer.append("Cut to fit the output budget: " + "; ".join(structured["cut"]) + ".")
    footer += [f"Note: {note}" for note in structured.get("notes") or []]
    if structured.get("read_at"):
        footer.append(f"Read from Sprinklr at {structured['read_at']}.")
    return footer


def _within(
    structured: dict[str, Any],
    head: str,
    body: str | None,
    next_call: tuple[str, dict[str, Any]] | None,
    next_label: str,
    budget: int,
) -> tuple[str, tuple[str, dict[str, Any]] | None]:
    """Cut the largest strings and lists of `structured` (in place) until its text fits; the text and next call."""
    text = _text(structured, head, body, next_call, next_label)
    rows = len(structured[body]) if body and isinstance(structured.get(body), list) else None
    cuts: list[str] = []
    for _ in range(_MAX_CUTS):
        if len(text) <= budget or not _cut_largest(structured, len(text) - budget, cuts):
            break
        structured["cut"] = cuts
        text = _text(structured, head, body, next_call, next_label)
    left = structured.get(body) if body else None
    dropped = rows - len(left) if rows is not None and isinstance(left, list) else 0
    if dropped > 0 and next_call is not None and isinstance(next_call[1].get("offset"), int):
        # Rows the budget cut off this page are the first of the next: the next call starts at them.
        next_call = (next_call[0], {**next_call[1], "offset": next_call[1]["offset"] - dropped})
        structured["next"] = {"tool": next_call[0], "arguments": next_call[1]}
        text = _text(structured, head, body, next_call, next_label)
    return text, next_call


def _text(
    structured: dict[str, Any],
    head: str,
    body: str | None,
    next_call: tuple[str, dict[str, Any]] | None,
    next_label: str = "Next page",
) -> str:
    data = structured.get(body) if body else {k: v for k, v in structured.items() if k not in META}
    parts = [head, render(data), *_footer(structured, next_call, next_label)]
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
    return "\n".join("".join(map(str, line)) for line in _lines(value, indent))


def _lines(value: Any, indent: int) -> list[list[str | Fenced]]:
    """The text form as lines of parts: plain text, and Fenced values held for the result's fence."""
    pad = "  " * indent
    lines: list[list[str | Fenced]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None or item == [] or item == {}:
                continue
            if isinstance(item, list) and all(not isinstance(v, dict | list) for v in item):
                row: list[str | Fenced] = [f"{pad}{key}: "]
                for number, scalar in enumerate(item):
                    row += [", ", _scalar(scalar)] if number else [_scalar(scalar)]
                lines.append(row)
            elif isinstance(item, dict | list):
                lines.append([f"{pad}{key}:"])
                lines += _lines(item, indent + 1)
            else:
                lines.append([f"{pad}{key}: ", _scalar(item)])
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                inner = _lines(item, indent + 1)
                if inner:
                    first = inner[0]
                    # The first field of an item takes the dash, in place of its indentation.
                    lines.append([f"{pad}- ", str(first[0]).lstrip(), *first[1:]])
                    lines += inner[1:]
            else:
                lines.append([f"{pad}- ", _scalar(item)])
    elif value is not None:
        lines.append([pad, _scalar(value)])
    return lines


def _scalar(value: Any) -> str | Fenced:
    if type(value) is Fenced:
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
