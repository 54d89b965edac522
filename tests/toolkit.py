"""What the tool tests share: a session that reads results as a model does, the dataset oracle, and text checks.

A model may see only the text of a result, so everything a test needs to continue (the next page) is parsed from
the text alone; the structured content is checked separately, against the outputSchema the server published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonschema
from mcp import Client

from server.sandbox.data import Dataset
from tests.conftest import text_of

JSON = dict[str, Any]
# The literal next call: the next page of a listing, or the conversation a case offers.
NEXT = re.compile(r"^(?:Next page|Conversation): (?P<tool>[a-z_]+) (?P<arguments>\{.*\})$")
NEXT_LABELS = ("Next page:", "Conversation:")
OPENING = re.compile(r"<<untrusted:([0-9a-f]+)>>")
CLOSING = re.compile(r"<</untrusted:([0-9a-f]+)>>")
ANY_MARK = re.compile(r"<</?untrusted:[^<>]*>>")
READ_AT = re.compile(r"^Read from Sprinklr at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\.$")
# More pages than any walk in these tests needs: a walk that gets here is looping.
MAX_PAGES = 200
# Characters no text a model reads may carry: controls (tab excepted), bidi and zero-width controls, the tag block,
# variation selectors. Newlines separate lines, so they are checked line by line.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u206f\ufeff\ufe00-\ufe0f]"
    "|[\U000e0000-\U000e007f]|[\U000e0100-\U000e01ef]"
)


@dataclass(frozen=True)
class Answer:
    """One tool result: the text a model reads and the structured content a program reads."""

    text: str
    data: JSON
    is_error: bool

    @property
    def next_call(self) -> tuple[str, JSON] | None:
        """The literal next call from the text's `Next page:` (or `Conversation:`) line, or None when it has none."""
        found = [NEXT.match(line) for line in self.text.splitlines() if line.startswith(NEXT_LABELS)]
        assert len(found) <= 1, f"more than one Next page line:\n{self.text}"
        if not found:
            return None
        match = found[0]
        assert match is not None, f"a Next page line that is not '<tool> <json>':\n{self.text}"
        arguments = json.loads(match.group("arguments"))
        assert isinstance(arguments, dict)
        return match.group("tool"), arguments

    @property
    def plain(self) -> Any:
        """The structured content with the untrusted-content marks taken off every string, to compare with data."""
        return unfenced_all(self.data)

    @property
    def read_at(self) -> str | None:
        """The time the text says the data was read from Sprinklr, if it says so."""
        for line in self.text.splitlines():
            if match := READ_AT.match(line):
                return match.group(1)
        return None


class Tools:
    """An MCP client session whose results are validated against the output schemas the server published."""

    def __init__(self, client: Client, schemas: dict[str, JSON]) -> None:
        self.client = client
        self.schemas = schemas

    @classmethod
    async def open(cls, client: Client) -> Tools:
        """Wrap a connected client, reading the published output schemas once."""
        listing = await client.list_tools()
        return cls(client, {tool.name: tool.output_schema or {} for tool in listing.tools})

    async def call(self, name: str, arguments: JSON | None = None) -> Answer:
        """Call a tool; return its text and structured content (empty for an error)."""
        result = await self.client.call_tool(name, arguments or {})
        return Answer(text_of(result), result.structured_content or {}, bool(result.is_error))

    async def ok(self, name: str, arguments: JSON | None = None) -> Answer:
        """Call a tool that must succeed; its structured content must follow the published outputSchema."""
        answer = await self.call(name, arguments)
        assert not answer.is_error, f"{name}({arguments}) failed: {answer.text}"
        assert answer.data, f"{name}({arguments}) has no structured content"
        jsonschema.validate(answer.data, self.schemas[name], cls=jsonschema.Draft202012Validator)
        return answer

    async def error(self, name: str, arguments: JSON | None = None) -> str:
        """Call a tool that must fail with a tool error; return the error text, which must be one clear line."""
        answer = await self.call(name, arguments)
        assert answer.is_error, f"expected an error from {name}({arguments}), got:\n{answer.text[:500]}"
        text = answer.text
        assert "Traceback" not in text, text
        assert "\n" not in text.strip(), f"not one line: {text!r}"
        assert len(text) < 600, f"an error of {len(text)} characters is not one clear line"
        return text

    async def walk(self, name: str, arguments: JSON) -> list[Answer]:
        """Every page of a listing, following the `Next page:` line of each page's text to the end."""
        pages = [await self.ok(name, arguments)]
        while (follow := pages[-1].next_call) is not None:
            assert len(pages) < MAX_PAGES, f"the Next page line of {name} never ran out"
            pages.append(await self.ok(*follow))
        return pages


# -- the dataset oracle ------------------------------------------------------------------------------------------------


def live(data: Dataset) -> list[JSON]:
    """Cases that are not deleted: the only ones a search may return."""
    return [case for case in data.cases if not case.get("deleted")]


def prop(case: JSON, field_id: str) -> list[Any]:
    """A case's values of one custom property."""
    values = case.get("workflow", {}).get("customProperties", {}).get(field_id, [])
    return list(values) if isinstance(values, list) else [values]


def minute(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as the views write times: ISO 8601 UTC to the minute."""
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def newest_first(cases: Iterable[JSON]) -> list[JSON]:
    """Cases as a search sorted by creation time, newest first, lists them."""
    return sorted(cases, key=lambda case: -case["createdTime"])


def side(message: JSON) -> str:
    """Who wrote a message, as the views say it."""
    flag = message.get("brandPost")
    return "unknown" if flag is None else "brand" if flag else "customer"


def users(data: Dataset) -> dict[str, str]:
    """User id -> name from the sandbox's USER directory (empty when the sandbox serves none)."""
    return {str(user["id"]): str(user["name"]) for user in getattr(data, "users", None) or []}


def assignee_shown(case: JSON, data: Dataset) -> str | None:
    """How a case's assignee is shown: the user's name when USER search knows it, else 'user <id>' or 'bot <id>'."""
    assignment = case.get("workflow", {}).get("assignment")
    if not assignment or assignment.get("assigneeId") is None:
        return None
    user_id = str(assignment["assigneeId"])
    return users(data).get(user_id) or f"{str(assignment.get('assigneeType') or 'user').lower()} {user_id}"


def duration_seconds(text: str) -> tuple[int, int]:
    """The span a duration like '45s', '12m', '3h 20m' or '2d 4h' stands for, as [low, high) in seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"(\d+)([dhms])(?: (\d+)([dhms]))?", text)
    assert parts, f"not a duration: {text!r}"
    low = int(parts.group(1)) * units[parts.group(2)]
    smallest = units[parts.group(2)]
    if parts.group(3):
        low += int(parts.group(3)) * units[parts.group(4)]
        smallest = units[parts.group(4)]
    return low, low + smallest


# -- text checks -------------------------------------------------------------------------------------------------------


def unfenced(value: str) -> str:
    """A view's string without the untrusted-content marks around it."""
    return ANY_MARK.sub("", value)


def unfenced_all(value: Any) -> Any:
    """Structured content with the fence marks taken off every string, keys included."""
    if isinstance(value, str):
        return unfenced(value)
    if isinstance(value, dict):
        return {unfenced(str(key)): unfenced_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unfenced_all(item) for item in value]
    return value


def fence_ids(text: str) -> set[str]:
    """The fence ids of a result's text, after checking that every fence is well formed.

    Every `<<untrusted:ID>>` is closed by `<</untrusted:ID>>` with the same ID later on the same line, with no other
    mark between them; no mark stands alone; the untrusted-content note is the only place a placeholder id appears.
    """
    ids: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("(Text in <<untrusted:ID>>"):
            continue
        position = 0
        while True:
            opening = ANY_MARK.search(line, position)
            if opening is None:
                break
            opened = OPENING.fullmatch(opening.group())
            assert opened, f"line {number}: a mark that opens no fence: {opening.group()!r} in {line!r}"
            closing = ANY_MARK.search(line, opening.end())
            assert closing, f"line {number}: a fence opened and not closed on its line: {line!r}"
            closed = CLOSING.fullmatch(closing.group())
            assert closed, f"line {number}: a fence is followed by a mark that does not close it: {line!r}"
            assert closed.group(1) == opened.group(1), f"line {number}: fence {opened.group(1)} closed by another id"
            ids.add(opened.group(1))
            position = closing.end()
    return ids


def fenced_values(value: Any) -> Iterator[str]:
    """Every fenced string in structured content."""
    if isinstance(value, str):
        if value.startswith("<<untrusted:"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from fenced_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from fenced_values(item)


def strings(value: Any) -> Iterator[str]:
    """Every string in structured content, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
