"""`sprinklr-mcp check --probe`: find out, with a few read-only requests, what the account does where the reference
is silent, report it, and keep it (server/findings.py) so the server uses what was found from then on.

Every probe is a read through the same guard, quota and call cap as the tools; the whole probe stays within
PROBE_CAP requests. A probe that cannot tell (an outage, a refusal for another reason) says so and records nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from server import call
from server.errors import BadRequest, SprinklrError
from server.findings import Findings, PageStart
from server.sprinklr import Answer, SprinklrClient, message_time

PROBE_CAP = 20
JSON = dict[str, Any]
NEWEST: JSON = {"sorts": [{"key": "createdTime", "order": "DESC"}]}
DAY_MS = 86_400_000


@dataclass
class Report:
    """What the probe found, line by line, and what it cost."""

    lines: list[str] = field(default_factory=list)
    calls: int = 0

    def say(self, text: str) -> None:
        """Add one finding to the report."""
        self.lines.append(text)


def _rows(answer: Answer) -> list[JSON]:
    data = answer.data
    results = data.get("results") if isinstance(data, dict) else None
    return [row for row in results or [] if isinstance(row, dict)]


def _total(answer: Answer) -> int | None:
    total = answer.data.get("totalCount") if isinstance(answer.data, dict) else None
    return total if isinstance(total, int) else None


async def _accepted(attempt: Callable[[], Awaitable[Answer]]) -> tuple[bool | None, Answer | None]:
    """Whether Sprinklr accepted a request (None when it failed for another reason than refusing it)."""
    try:
        return True, await attempt()
    except BadRequest:
        return False, None
    except SprinklrError:
        return None, None


def _yes(value: bool | None, yes: str, no: str) -> str:
    return yes if value else no if value is False else "could not tell (the request failed; try again later)"


async def run_probe(client: SprinklrClient) -> tuple[Findings, Report]:
    """Probe the account in at most PROBE_CAP requests; return the findings and the report (nothing is saved here)."""
    found = Findings()
    report = Report()
    with call.call_scope(PROBE_CAP) as scope:
        try:
            await _probe(client, found, report)
        finally:
            report.calls = scope.spent
    found.probe_calls = report.calls
    return found, report


async def _search(client: SprinklrClient, entity: str, body: JSON) -> Answer:
    return await client.probe_read("POST", f"/api/v2/search/{entity}", what=f"a {entity} probe", body=body)


async def _probe(client: SprinklrClient, found: Findings, report: Report) -> None:
    everything: JSON = {"filter": {"type": "AND", "filters": []}, **NEWEST}
    first = await _search(client, "CASE", {**everything, "page": {"size": 5}, "includeCount": True})
    found.envelope = "enveloped" if first.enveloped else "bare"
    report.say(
        'Answers come in the {"data", "errors"} envelope.' if first.enveloped else "Answers come bare (no envelope)."
    )
    cases = _rows(first)
    ids = [row.get("id") for row in cases]

    # page.start: the third, fourth or fifth result first (see SprinklrClient._detect_page_start).
    if len(ids) == 5:
        second = await _search(client, "CASE", {**everything, "page": {"start": 3, "size": 2}})
        probe = [row.get("id") for row in _rows(second)]
        readings: dict[Any, PageStart] = {ids[2]: "position", ids[3]: "position0", ids[4]: "page"}
        found.page_start = readings.get(probe[0]) if probe else None
    meaning = {
        "position": "the 1-based position of the first result",
        "position0": "the 0-based position of the first result",
        "page": "a 1-based page number",
        None: "not clear (fewer than five cases, or an unexpected answer): the server will find out when it must",
    }
    report.say(f"page.start is {meaning[found.page_start]}.")

    status_id = "spr_uc_status"
    in_custom = any(status_id in ((row.get("workflow") or {}).get("customProperties") or {}) for row in cases)
    at_top = any(row.get("status") is not None for row in cases)
    found.status_field = "custom" if in_custom else "top" if at_top else None
    report.say(
        "Case status lives in workflow.customProperties.spr_uc_status" + (" (and at top level)." if at_top else ".")
        if in_custom
        else "Case status is only at top level (no spr_uc_status custom property)."
        if at_top
        else "The latest cases carry no status at all."
    )

    sample = cases[0] if cases else {}
    extended: list[bool | None] = []
    for key, value in (
        ("status", sample.get("status") or "Open"),
        ("workflow.assignment.assigneeId", ((sample.get("workflow") or {}).get("assignment") or {}).get("assigneeId")),
        ("firstMessageId", sample.get("firstMessageId")),
    ):
        if value is None:
            continue
        body = {
            "filter": {"type": "AND", "filters": [{"type": "IN", "key": key, "values": [value]}]},
            "page": {"size": 1},
        }
        ok, _ = await _accepted(partial(_search, client, "CASE", body))
        extended.append(ok)
        report.say(f"CASE search {_yes(ok, 'accepts', 'refuses')} a filter on {key} (not in the reference's table).")
    known = [ok for ok in extended if ok is not None]
    found.extended_keys = all(known) if known else None

    sort_body = {**everything, "sorts": [{"key": "modifiedTime", "order": "DESC"}], "page": {"size": 1}}
    found.other_sorts, _ = await _accepted(lambda: _search(client, "CASE", sort_body))
    report.say(f"CASE search {_yes(found.other_sorts, 'sorts', 'will not sort')} by modifiedTime.")

    await _probe_messages(client, found, report, cases)

    for entity in ("USER", "CUSTOM_FIELD"):
        ok, answer = await _accepted(partial(_search, client, entity, {"page": {"size": 100}}))
        count = len(_rows(answer)) if answer else 0
        names = "users (assignee names)" if entity == "USER" else "custom field definitions (names, options)"
        report.say(f"{entity} search: " + (f"{count} {names}." if ok else _yes(ok, "", "refused; ids are shown.")))


async def _probe_messages(client: SprinklrClient, found: Findings, report: Report, cases: list[JSON]) -> None:
    """The MESSAGE time filter's form, the `deleted` filter on messages, and the associated-messages page size."""
    times = [row["createdTime"] for row in cases if isinstance(row.get("createdTime"), int)]
    newest = max(times, default=None)
    if newest is None:
        report.say("No cases to probe messages with.")
        return
    since, until = newest - 30 * DAY_MS, newest + DAY_MS
    base: JSON = {"filter": {"type": "AND", "filters": []}, "page": {"size": 1}, "includeCount": True}
    window = {"key": "channelCreatedTime", "since": since, "until": until}
    epoch_ok, epoch_answer = await _accepted(lambda: _search(client, "MESSAGE", {**base, "timeFilter": window}))
    month = {**window, "since": _month(since), "until": _month(until)}
    month_ok, _ = await _accepted(lambda: _search(client, "MESSAGE", {**base, "timeFilter": month}))
    found.time_filter = "epoch" if epoch_ok else "month" if month_ok else None
    report.say(
        f"MESSAGE timeFilter: epoch milliseconds {_yes(epoch_ok, 'accepted', 'refused')}; month strings "
        f"{_yes(month_ok, 'accepted', 'refused')}."
    )
    if epoch_ok or month_ok:
        time_filter = window if epoch_ok else month
        deleted = {"type": "AND", "filters": [{"type": "EQUALS", "key": "deleted", "values": [False]}]}
        ok, answer = await _accepted(
            lambda: _search(client, "MESSAGE", {**base, "filter": deleted, "timeFilter": time_filter})
        )
        without = _total(epoch_answer) if epoch_answer else None
        with_filter = _total(answer) if answer else None
        found.message_deleted_filter = None if not ok else bool(with_filter) or not without
        report.say(
            "MESSAGE search with 'deleted EQUALS false' "
            + (f"keeps {with_filter} of {without} messages" if ok else _yes(ok, "", "is refused"))
            + " (the server never relies on it: deleted messages are dropped from answers instead)."
        )
    biggest = 0
    pages = 0
    for row in cases[:3]:
        if not call.current().room(2):
            break
        cursor: int | None = None
        for _ in range(2):
            params = {"id": str(row.get("id"))} if cursor is None else {"id": str(row.get("id")), "cursor": str(cursor)}
            try:
                answer = await client.probe_read(
                    "GET", "/api/v2/case/associated-messages", what="an associated-messages probe", params=params
                )
            except SprinklrError:
                break
            page = [item for item in answer.data if isinstance(item, str)] if isinstance(answer.data, list) else []
            times = [t for t in map(message_time, page) if t is not None]
            biggest, pages = max(biggest, len(page)), pages + 1
            if not page or not times:
                break
            cursor = max(times)
    found.associated_page = biggest or None
    report.say(
        f"Associated-message pages held up to {biggest} ids in {pages} reads (the server follows the cursor "
        f"until a page brings nothing new, whatever the size)."
    )


def _month(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m")
