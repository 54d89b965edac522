"""Tool descriptions and JSON input schemas rendered for a person at a terminal (`sprinklr-mcp tools [NAME]`)."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping
from typing import Any

JSON = Mapping[str, Any]

# A sentence ends at . ! or ? followed by a space and a capital or an opening mark; "e.g. 48213" does not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")
# Bounds at or beyond JSON's safe integer range say nothing a person needs to read.
_NO_BOUND = 2**53


def paragraphs(description: str) -> list[str]:
    """The description's paragraphs, each re-joined onto one line (docstrings wrap them at a fixed width)."""
    blocks = re.split(r"\n\s*\n", description.strip())
    return [" ".join(line.strip() for line in block.splitlines()) for block in blocks if block.strip()]


def first_sentence(description: str) -> str:
    """The first whole sentence of a description (never cut mid-word)."""
    first = paragraphs(description)[:1]
    if not first:
        return ""
    return _SENTENCE_END.split(first[0], maxsplit=1)[0]


def listing(tools: list[tuple[str, str]], width: int) -> list[str]:
    """One entry per (name, description): the name, then the first sentence wrapped under a hanging indent."""
    column = max((len(name) for name, _ in tools), default=0) + 2
    lines: list[str] = []
    for name, description in tools:
        wrapped = textwrap.wrap(
            first_sentence(description),
            width=max(width, column + 30),
            initial_indent=name.ljust(column),
            subsequent_indent=" " * column,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.extend(wrapped or [name])
    return lines


def _number_text(kind: str, schema: JSON) -> str:
    """'integer 1-100', 'integer > 0', 'number >= 0.5'..."""
    low = schema.get("minimum")
    high = schema.get("maximum")
    if high is not None and abs(high) >= _NO_BOUND:
        high = None
    above = schema.get("exclusiveMinimum")
    below = schema.get("exclusiveMaximum")
    if low is not None and high is not None:
        return f"{kind} {low}-{high}"
    bounds = [
        f"> {above}" if above is not None else "",
        f">= {low}" if low is not None else "",
        f"< {below}" if below is not None else "",
        f"<= {high}" if high is not None else "",
    ]
    shown = ", ".join(bound for bound in bounds if bound)
    return f"{kind} {shown}" if shown else kind


def _count_text(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}-{high} {unit}"
    if high is not None:
        return f"at most {high} {unit}"
    if low is not None:
        return f"at least {low} {unit}"
    return ""


def type_text(schema: JSON) -> str:
    """A JSON schema's type in words: 'one of "a", "b"', 'list of string (1-20 items)', 'date or date-time'..."""
    if "anyOf" in schema:
        choices = [type_text(choice) for choice in schema["anyOf"] if choice.get("type") != "null"]
        return " or ".join(dict.fromkeys(choices)) or "null"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind in ("integer", "number"):
        return _number_text(kind, schema)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = type_text(schema.get("items", {}))
        count = _count_text(schema.get("minItems"), schema.get("maxItems"), "items")
        return f"list of {items}" + (f", {count}" if count else "")
    if kind == "string":
        if "format" in schema:
            return str(schema["format"])
        details = [_count_text(schema.get("minLength"), schema.get("maxLength"), "characters")]
        if "pattern" in schema:
            details.append(f"matching {schema['pattern']}")
        shown = ", ".join(detail for detail in details if detail)
        return f"string ({shown})" if shown else "string"
    return str(kind)


def describe_tool(name: str, title: str | None, description: str, schema: JSON, width: int) -> list[str]:
    """A tool's whole description and one entry per argument: type, allowed values, default or 'required'."""
    lines = [f"{name}: {title}" if title else name, ""]
    for paragraph in paragraphs(description):
        lines.extend(textwrap.wrap(paragraph, width=width, break_long_words=False, break_on_hyphens=False) or [""])
        lines.append("")
    properties: Mapping[str, JSON] = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not properties:
        lines.append("Arguments: none.")
        return lines
    lines.append("Arguments:")
    for argument, spec in properties.items():
        if argument in required:
            status = "required"
        elif spec.get("default") is None:
            status = "optional"
        else:
            status = f"default {json.dumps(spec['default'])}"
        lines.extend(
            textwrap.wrap(
                f"{argument}: {type_text(spec)}; {status}",
                width=width,
                initial_indent="  ",
                subsequent_indent="      ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        if spec.get("description"):
            lines.extend(
                textwrap.wrap(
                    str(spec["description"]),
                    width=width,
                    initial_indent="      ",
                    subsequent_indent="      ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    needed = [f"--arg {argument}=..." for argument in properties if argument in required]
    more = ["[--arg NAME=VALUE ...]"] if len(needed) < len(properties) else []
    lines += ["", " ".join(["Call it: sprinklr-mcp call", name, *needed, *more, "[--json-out]"])]
    return lines
