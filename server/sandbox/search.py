"""The search API's query language: filter validation and evaluation, sorting, and MESSAGE time windows."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]

_ALL = frozenset({"IN", "NIN", "EQUALS", "NOT_EQUALS", "LT", "LTE", "GT", "GTE"})
_SET = frozenset({"IN", "NIN", "EQUALS", "NOT_EQUALS"})
_RANGE_EQ = frozenset({"LT", "LTE", "GT", "GTE", "EQUALS"})
_EQ = frozenset({"EQUALS", "NOT_EQUALS"})

# The reference's filter-key tables, verbatim: a key or operator outside them is refused as Sprinklr does.
# USER and CUSTOM_FIELD have no table in the reference; their `id` is the least any search must accept.
FILTER_KEYS: dict[str, dict[str, frozenset[str]]] = {
    "CASE": {
        "id": _ALL,
        "caseNumber": _ALL,
        "createdTime": _RANGE_EQ,
        "modifiedTime": _ALL,
        "deleted": _EQ,
        "workflow.queues.queueId": _SET,
        "contact.channelId": _SET,
        "externalCase.channelType": _SET,
    },
    "MESSAGE": {
        "sourceType": _SET,
        "sourceId": _SET,
        "channelType": _SET,
        "content.text": frozenset({"IN", "SEARCH"}),
        "content.title": _SET | {"CONTAINS"},
        "brandPost": _EQ,
        "deleted": _SET,
        "enrichments.sentiment": _ALL,
        "workflow.customProperties": _SET,
        "postId": _SET,
    },
    "PROFILE": {
        "id": _ALL,
        "channelType": frozenset({"IN", "NIN", "CONTAINS"}),
        "channelId": frozenset({"IN", "NIN", "CONTAINS"}),
        "contact.email": _SET,
        "contact.phoneNo": _SET,
        "createdTime": _RANGE_EQ,
        "modifiedTime": _RANGE_EQ,
    },
    "USER": {"id": _SET},
    "CUSTOM_FIELD": {"id": _SET},
}
# The plausible reading that the real API accepts more keys than the reference lists (filter_keys=extended).
EXTENDED_KEYS: dict[str, dict[str, frozenset[str]]] = {
    "CASE": {
        "status": _SET,
        "priority": _SET,
        "caseType": _SET,
        "workflow.assignment.assigneeId": _SET,
        "firstMessageId": _SET,
        "contact.id": _SET,
    },
    "USER": {"name": _SET | {"CONTAINS"}, "email": _SET, "userType": _SET},
    "CUSTOM_FIELD": {"name": _SET | {"CONTAINS"}, "fieldType": _SET},
}
# Keys with a per-field suffix, e.g. workflow.customProperties.5cc9a7cfe4b01904c8dfc908.
FIELD_PREFIXES: dict[str, tuple[str, frozenset[str]]] = {
    "CASE": ("workflow.customProperties.", _SET),
    "MESSAGE": ("workflow.customProperties.", _SET),
}
# A field absent on an entity that may still be matched as if it had a value (message_deleted=absent_is_false):
# messages carry no `deleted`, yet the reference lists it as a MESSAGE filter key.
DELETED_DEFAULT = {"deleted": False}
LOGICAL = frozenset({"AND", "OR", "NOT"})
OPERATORS = frozenset({"IN", "NIN", "EQUALS", "NOT_EQUALS", "GT", "GTE", "LT", "LTE", "CONTAINS", "SEARCH"})
TIME_KEYS = frozenset({"channelCreatedTime", "createdTime", "modifiedTime"})


class QueryError(ValueError):
    """A search request the real API would answer with 400; the message is what Sprinklr would say."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The undocumented choices a search follows (see SandboxConfig): which keys, sorts and time forms pass."""

    extended_keys: bool = False
    created_only_sorts: bool = False
    time_filter: str = "both"
    absent_deleted_is_false: bool = True


def values_at(entity: JSON, path: tuple[str, ...], defaults: dict[str, Any] | None = None) -> list[Any]:
    """Every value at a dotted path, flattening lists and the values of a trailing object."""
    current: list[Any] = [entity]
    for part in path:
        found: list[Any] = []
        for node in current:
            if isinstance(node, dict) and part in node:
                value = node[part]
                found.extend(value if isinstance(value, list) else (value,))
            elif isinstance(node, list):
                found.extend(item[part] for item in node if isinstance(item, dict) and part in item)
        current = found
    flat: list[Any] = []
    for value in current:
        if isinstance(value, dict):
            # workflow.customProperties without a field id means "any custom field".
            for inner in value.values():
                flat.extend(inner if isinstance(inner, list) else (inner,))
        elif isinstance(value, list):
            flat.extend(value)
        else:
            flat.append(value)
    if not flat and defaults and len(path) == 1 and path[0] in defaults:
        return [defaults[path[0]]]
    return flat


def getter(path: tuple[str, ...], defaults: dict[str, Any] | None = None) -> Callable[[JSON], list[Any]]:
    """A fast values_at for one path: a plain walk through nested objects, falling back to the general one."""
    default = [defaults[path[0]]] if defaults and len(path) == 1 and path[0] in defaults else []

    def get(entity: JSON) -> list[Any]:
        node: Any = entity
        for part in path:
            if type(node) is not dict:
                return values_at(entity, path, defaults)
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return default
        if type(node) is list:
            if all(type(v) is not dict and type(v) is not list for v in node):
                return node
            return values_at(entity, path, defaults)
        if type(node) is dict:
            return values_at(entity, path, defaults)
        return [node]

    return get


_MISSING = object()


def _norm(value: Any) -> str:
    """One spelling per value, so that 48213, "48213" and 48213.0 (or false and "false") compare equal."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    """The value as a number, if it is one or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


def _leaf(entity_type: str, node: JSON, rules: Rules) -> Predicate:
    """Compile one key/operator/values filter after checking it against the entity's key table."""
    operator, key, values = node.get("type"), node.get("key"), node.get("values")
    if not isinstance(key, str) or not key:
        raise QueryError(f"Filter of type {operator} needs a 'key'")
    allowed = FILTER_KEYS[entity_type].get(key)
    if allowed is None and rules.extended_keys:
        allowed = EXTENDED_KEYS.get(entity_type, {}).get(key)
    prefix = FIELD_PREFIXES.get(entity_type)
    if allowed is None and prefix and key.startswith(prefix[0]) and len(key) > len(prefix[0]):
        allowed = prefix[1]
    if allowed is None:
        raise QueryError(f"Unsupported filter key '{key}' for {entity_type}")
    if operator not in allowed:
        raise QueryError(f"Operator {operator} not supported for key {key}")
    if not isinstance(values, list):
        raise QueryError(f"Filter on key {key} needs 'values' as a list")
    if operator not in ("IN", "NIN") and not values:
        raise QueryError(f"Filter {operator} on key {key} needs at least one value")
    defaults = DELETED_DEFAULT if entity_type == "MESSAGE" and rules.absent_deleted_is_false else None
    get = getter(tuple(key.split(".")), defaults)

    if operator in ("IN", "EQUALS", "NIN", "NOT_EQUALS"):
        wanted = frozenset(_norm(v) for v in values)
        negate = operator in ("NIN", "NOT_EQUALS")

        def member(entity: JSON) -> bool:
            for value in get(entity):
                if _norm(value) in wanted:
                    return not negate
            return negate

        return member

    if operator in ("CONTAINS", "SEARCH"):
        needles = [str(v).casefold() for v in values]
        return lambda e: any(n in str(v).casefold() for v in get(e) for n in needles)

    compare = _COMPARE[operator]
    bound = values[0]
    bound_number = _number(bound)

    def ordered(entity: JSON) -> bool:
        for value in get(entity):
            number = _number(value)
            if bound_number is not None and number is not None:
                if compare(number, bound_number):
                    return True
            elif compare(_norm(value), _norm(bound)):
                return True
        return False

    return ordered


def compile_filter(entity_type: str, node: Any, rules: Rules | None = None) -> Predicate:
    """Turn a filter tree into a predicate, or raise QueryError naming what Sprinklr would refuse.

    NOT matches an entity that none of its sub-filters match (for one sub-filter, plain negation).
    CONTAINS and SEARCH are case-insensitive substring matches.
    """
    rules = rules or Rules()
    if node is None:
        return lambda e: True
    if not isinstance(node, dict):
        raise QueryError("'filter' must be an object")
    kind = node.get("type")
    if kind in LOGICAL:
        children = node.get("filters")
        if not isinstance(children, list):
            raise QueryError(f"Filter of type {kind} needs 'filters' as a list")
        compiled = [compile_filter(entity_type, child, rules) for child in children]
        if kind == "AND":
            return lambda e: all(p(e) for p in compiled)
        if kind == "OR":
            return lambda e: any(p(e) for p in compiled)
        return lambda e: not any(p(e) for p in compiled)
    if kind not in OPERATORS:
        raise QueryError(f"Unsupported filter type '{kind}'")
    return _leaf(entity_type, node, rules)


def _sort_key(path: tuple[str, ...], missing_last: bool) -> Callable[[JSON], tuple[bool, int, Any]]:
    """A key that orders numbers numerically and text as text, with absent values at the end."""

    get = getter(path)

    def key(entity: JSON) -> tuple[bool, int, Any]:
        found = get(entity)
        if not found or found[0] is None:
            return (missing_last, 0, 0)
        value = found[0]
        number = _number(value) if not isinstance(value, str) else None
        return (not missing_last, 0, number) if number is not None else (not missing_last, 1, _norm(value))

    return key


def compile_sorts(spec: Any, rules: Rules | None = None) -> Callable[[list[JSON]], list[JSON]]:
    """Validate 'sorts' and return a function that sorts results by them, first key first."""
    rules = rules or Rules()
    if spec is None:
        return lambda items: items
    if not isinstance(spec, list):
        raise QueryError("'sorts' must be a list")
    keys: list[tuple[tuple[str, ...], bool]] = []
    for item in spec:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise QueryError("Each sort needs a 'key'")
        if rules.created_only_sorts and item["key"] != "createdTime":
            raise QueryError(f"Sorting is supported on createdTime only, not on '{item['key']}'")
        order = str(item.get("order", "ASC")).upper()
        if order not in ("ASC", "DESC"):
            raise QueryError(f"Sort order must be ASC or DESC, got {item.get('order')!r}")
        keys.append((tuple(item["key"].split(".")), order == "DESC"))

    def apply(items: list[JSON]) -> list[JSON]:
        result = list(items)
        # Stable sorts applied from the last key to the first give a multi-key order.
        for path, descending in reversed(keys):
            result.sort(key=_sort_key(path, missing_last=not descending), reverse=descending)
        return result

    return apply


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def _epoch_ms(year: int, month: int, day: int) -> int:
    """Milliseconds at midnight UTC of a date."""
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)


def time_bound(value: Any, *, name: str, end: bool, form: str = "both") -> int:
    """Read a timeFilter bound as epoch ms: "YYYY-MM" only, epoch ms only, or either and "YYYY-MM-DD" (form).

    An end bound given as a month or a day covers all of it, so since "2025-01" until "2025-03" is January
    to March inclusive; an end bound in epoch ms is inclusive.
    """
    if form == "month" and not (isinstance(value, str) and _MONTH.match(value.strip())):
        raise QueryError(f"Invalid timeFilter.{name} {value!r}: use a month like 2024-01")
    if form == "epoch" and (isinstance(value, bool) or not isinstance(value, int)):
        raise QueryError(f"Invalid timeFilter.{name} {value!r}: use epoch milliseconds")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        if text.isdigit():
            return int(text)
        if match := _MONTH.match(text):
            year, month = int(match[1]), int(match[2])
            if not end:
                return _epoch_ms(year, month, 1)
            return _epoch_ms(year + month // 12, month % 12 + 1, 1) - 1
        if match := _DAY.match(text):
            start = _epoch_ms(int(match[1]), int(match[2]), int(match[3]))
            return start + 86_400_000 - 1 if end else start
    except ValueError:
        pass
    raise QueryError(f"Invalid timeFilter.{name} {value!r}: use YYYY-MM, YYYY-MM-DD or epoch milliseconds")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A MESSAGE search's required window on one time field, bounds inclusive."""

    key: str
    since: int
    until: int


def time_window(spec: Any, form: str = "both") -> TimeWindow:
    """Validate a MESSAGE search's timeFilter, whose bounds must be in the given form (see time_bound)."""
    if not isinstance(spec, dict):
        raise QueryError("timeFilter is required for MESSAGE search")
    key = spec.get("key", "channelCreatedTime")
    if key not in TIME_KEYS:
        raise QueryError(f"Unsupported timeFilter key '{key}'")
    if spec.get("since") is None and spec.get("until") is None:
        raise QueryError("timeFilter needs 'since' or 'until'")
    since = time_bound(spec["since"], name="since", end=False, form=form) if spec.get("since") is not None else 0
    until = time_bound(spec["until"], name="until", end=True, form=form) if spec.get("until") is not None else 2**62
    return TimeWindow(str(key), since, until)


def select(items: Iterable[JSON], predicate: Predicate) -> list[JSON]:
    """The items a predicate accepts, in their order."""
    return [item for item in items if predicate(item)]
