"""Lean published schemas: the tool list is read by the model in every conversation, so every byte is a cost.

Pydantic's schemas carry a title on every property, `anyOf [X, null]` for every optional argument, `default: null`
and JSON's largest integer as a bound. None of that tells a model anything: optional means "may be left out", and
our tools never need null. `lean()` drops them and inlines nothing else, so the schema stays exactly as strict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_NOISE_MAXIMUM = 2**53


def lean(schema: Any) -> Any:
    """A copy of a JSON schema without titles, null branches, null defaults and meaningless bounds."""
    if isinstance(schema, list):
        return [lean(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
            # A map of names to schemas: the names are data (a property may well be called "title").
            out[key] = {name: lean(sub) for name, sub in value.items()}
        else:
            out[key] = lean(value)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [branch for branch in branches if branch != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and isinstance(rest[0], dict):
            out = {**rest[0], **out}
        elif rest:
            out["anyOf"] = rest
    if "default" in out and out["default"] is None:
        del out["default"]
    for bound in ("maximum", "minimum"):
        if isinstance(out.get(bound), int) and abs(out[bound]) >= _NOISE_MAXIMUM:
            del out[bound]
    return out


@dataclass(frozen=True)
class Published:
    """What the server publishes for a tool beyond what the SDK derives: input constraints and the output schema."""

    input_extra: dict[str, Any]
    output_schema: dict[str, Any]
