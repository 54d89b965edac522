"""economy: upstream requests of a scripted support session against the fewest any client could have made.

Also: the latency of a cache hit against an upstream call, and how many upstream requests 20 concurrent identical
calls cause (single flight; ideally one).

The session pages the way a model does: it follows each result's `next` (the same call with a new offset).
"""

from __future__ import annotations

import inspect
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from bench.harness import (
    OPEN_LIMITS,
    SERVER_OPEN_LIMITS,
    BenchResult,
    CallLog,
    Metric,
    Sandbox,
    cache_stats,
    percentile,
    timed_call,
)
from server.app import build_server
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.data import Dataset
from server.sandbox.runner import RunningSandbox
from server.settings import DEFAULT_CUSTOM_FIELDS, Settings, load_settings
from server.sprinklr import BULK_FETCH_BATCH
from tools.messages import get_case_messages

ASSOCIATED_PAGE = 200  # the sandbox default, for the offline minimum
DIRECTORY_PAGE = 100  # USER and CUSTOM_FIELD are read in pages of this size
# get_case_messages' own default page, so that the minimum follows the tool if it changes.
CONVERSATION_LIMIT: int = inspect.signature(get_case_messages).parameters["limit"].default

TARGET_RATIO = 1.1
SEARCH_TOOLS = ("search_cases", "search_messages")
# Tools whose answers show assignee and custom-field names (and so need the account's directory).
NAMED = ("get_case", "search_cases")


@dataclass
class Ideal:
    """The fewest upstream requests that could answer the session so far, worked out from the dataset.

    A client that knew nothing in advance and kept everything it was sent (for the session's few minutes) must:
    - run each distinct search page once: a first page per distinct query, a next page per distinct position;
    - fetch each distinct case once, unless a search already returned it whole (searches return whole entities);
    - read a conversation's message ids once per case, until a page brings nothing new: ceil(n / 200) + 1
      requests. Nothing documents the page size or the order within a page, so only a page with no new id shows
      the end; version 1 trusted a short page to be the last and made one request fewer per conversation;
    - bulk-fetch, for each conversation read, ceil(new / 100) batches, where `new` are the messages on the pages
      asked for that no earlier answer (a bulk fetch or a message search) contained. A read cannot be batched
      with a later read nobody has asked for yet; the offline figure, which could, is reported beside it;
    - fetch a single message or profile once, unless an earlier answer contained it;
    - make no request at all for quota_status or for anything already seen.
    And, because this version shows names and forgives filter values, once per session (cached for 6 h):
    - at the first answer that shows assignee or custom-field names, read the USER and CUSTOM_FIELD directories
      (ceil(entries / 100) pages each);
    - at the first search with a filter on a picklist field, read one page of the latest cases, the sample from
      which the values the account uses are learned (so that "urgent" is sent as "Urgent");
    - at the first message search, try once whether Sprinklr links messages to cases by firstMessageId (an
      undocumented filter key: the sandbox, like the reference, refuses it, and the refusal is remembered).
    These are counted as part of the minimum: a client with these features cannot avoid them.
    """

    dataset: Dataset
    requests: int = 0
    cases: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)
    message_ids_known: set[str] = field(default_factory=set)
    search_pages: set[str] = field(default_factory=set)
    once: set[str] = field(default_factory=set)
    bulk_messages: int = 0  # messages bulk-fetched in all, for the offline minimum
    by_kind: Counter[str] = field(default_factory=Counter)

    def charge(self, kind: str, count: int = 1) -> None:
        """Count requests a minimal client must make."""
        self.requests += count
        self.by_kind[kind] += count

    def first_time(self, kind: str, count: int = 1) -> None:
        """Requests made once per session (cached for hours): directories, the value sample, a probe."""
        if kind not in self.once:
            self.once.add(kind)
            self.charge(kind, count)

    def names(self) -> None:
        """The USER and CUSTOM_FIELD directories, read before the first answer that shows names."""
        users = math.ceil(len(self.dataset.users) / DIRECTORY_PAGE) or 1
        fields = math.ceil(len(self.dataset.custom_fields) / DIRECTORY_PAGE) or 1
        self.first_time("names (USER, CUSTOM_FIELD)", users + fields)

    def search_page(self, key: str) -> None:
        """A search page: once per distinct query and position."""
        if key not in self.search_pages:
            self.search_pages.add(key)
            self.charge("search page")

    def case(self, case_id: str) -> None:
        """A case read by number or id."""
        if case_id not in self.cases:
            self.cases.add(case_id)
            self.charge("case")

    def conversation(self, case_id: str, order: str, offset: int, limit: int) -> None:
        """A page of a case's conversation: its case, its message ids (once), and the messages not yet seen."""
        self.case(case_id)
        ids = self.dataset.case_message_ids[case_id]
        if case_id not in self.message_ids_known:
            self.message_ids_known.add(case_id)
            self.charge("associated-messages page", math.ceil(len(ids) / ASSOCIATED_PAGE) + 1)
        ordered = ids if order == "oldest_first" else list(reversed(ids))
        new = [mid for mid in ordered[offset : offset + limit] if mid not in self.messages]
        self.messages.update(new)
        self.bulk_messages += len(new)
        self.charge("bulk-fetch batch", math.ceil(len(new) / BULK_FETCH_BATCH))

    def message(self, message_id: str) -> None:
        """One message by id."""
        if message_id not in self.messages:
            self.messages.add(message_id)
            self.charge("message")

    def profile(self, profile_id: str) -> None:
        """One profile by id."""
        if profile_id not in self.profiles:
            self.profiles.add(profile_id)
            self.charge("profile")

    def offline(self) -> int:
        """The minimum if every conversation page read had been known in advance and fetched in full batches."""
        return self.requests - self.by_kind["bulk-fetch batch"] + math.ceil(self.bulk_messages / BULK_FETCH_BATCH)


# Arguments of search_cases that filter on a picklist field, whose values are matched against the account's.
PICKLIST_FILTERS = ("status", "priority", "type", "brand", "language", "country", "queue", "assignee")


@dataclass
class Session:
    """A support session: each call made through the MCP client and accounted for in the ideal."""

    client: Client
    ideal: Ideal
    log: CallLog = field(default_factory=CallLog)
    steps: list[str] = field(default_factory=list)

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Make one tool call and account for what it needed; returns its structured content."""
        content = await timed_call(self.client, self.log, name, arguments)
        if content is None:
            raise RuntimeError(f"the session's {name} {arguments} failed: {self.log.failures[-1:]}")
        self.steps.append(name)
        self._account(name, arguments, content)
        result: dict[str, Any] = content
        return result

    async def follow(self, content: dict[str, Any]) -> dict[str, Any] | None:
        """The next page of a result, by the call its `next` names (as a model copies it), or None at the end."""
        step = content.get("next")
        if not step:
            return None
        return await self.call(step["tool"], **step["arguments"])

    def _account(self, name: str, arguments: dict[str, Any], content: dict[str, Any]) -> None:
        ideal, data = self.ideal, self.ideal.dataset
        if name in NAMED or (name == "lookup_profile" and arguments.get("cases")):
            ideal.names()
        if name == "search_cases" and any(arguments.get(key) for key in PICKLIST_FILTERS):
            ideal.first_time("latest-cases sample (filter values)")
        if name in SEARCH_TOOLS:
            ideal.search_page(f"{name}:{sorted(arguments.items())}")
            for row in content.get("results", []):
                if name == "search_cases":
                    ideal.cases.add(data.case_by_number[row["case_number"]]["id"])
                else:
                    ideal.messages.add(row["id"])
            if name == "search_messages" and content.get("results"):
                ideal.first_time("firstMessageId link probe")
        elif name == "lookup_profile":
            if "profile_id" in arguments:
                ideal.profile(arguments["profile_id"])
            else:
                key = {k: v for k, v in arguments.items() if k != "cases"}
                ideal.search_page(f"profile search:{sorted(key.items())}")
            ideal.profiles.update(p["id"] for p in content.get("profiles", []))
            if arguments.get("cases"):
                profile = content["profiles"][0]
                ideal.search_page(f"customer cases:{profile['channel_id']}:{arguments['cases']}")
                ideal.cases.update(data.case_by_number[row["case_number"]]["id"] for row in content.get("cases", []))
        elif name == "get_case":
            case_id = arguments.get("case_id") or data.case_by_number[arguments["case_number"]]["id"]
            ideal.case(case_id)
        elif name == "get_case_messages":
            case_id = arguments.get("case_id") or data.case_by_number[arguments["case_number"]]["id"]
            order = arguments.get("order", "oldest_first")
            ideal.conversation(case_id, order, arguments.get("offset", 0), arguments.get("limit", CONVERSATION_LIMIT))
        elif name == "get_message":
            ideal.message(arguments["message_id"])


def pick_customer(data: Dataset) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A customer with an email and several cases, one of them a conversation long enough to page (over 200)."""
    cases_of: dict[str, list[dict[str, Any]]] = {}
    for case in data.cases:
        if not case["deleted"]:
            cases_of.setdefault(case["contact"]["id"], []).append(case)

    def longest(profile: dict[str, Any]) -> int:
        return max(len(data.case_message_ids[c["id"]]) for c in cases_of[profile["id"]])

    fits = [p for p in data.profiles if "email" in p["contact"] and len(cases_of.get(p["id"], [])) >= 4]
    customer = max(fits, key=lambda p: (longest(p) > ASSOCIATED_PAGE, len(cases_of[p["id"]]), p["id"]))
    return customer, cases_of[customer["id"]]


async def support_session(session: Session, data: Dataset) -> None:
    """About fifty calls an agent helping one customer might make, re-reading as agents do."""
    call, follow = session.call, session.follow
    customer, their_cases = pick_customer(data)
    email = customer["contact"]["email"]
    await call("quota_status")
    found = await call("lookup_profile", email=email, cases=10)
    recent = [row["case_number"] for row in found["cases"]]
    await call("lookup_profile", email=email)
    for number in recent:
        await call("get_case", case_number=number)
    by_size = sorted(their_cases, key=lambda c: len(data.case_message_ids[c["id"]]), reverse=True)
    big, second = by_size[0]["caseNumber"], by_size[1]["caseNumber"]
    await call("get_case", case_number=big, detail="full")
    # The long conversation: from the start, the next page, a page further on, then what was said last.
    page = await call("get_case_messages", case_number=big)
    await follow(page)
    await call("get_case_messages", case_number=big, offset=50, limit=50)
    latest = await call("get_case_messages", case_number=big, order="newest_first", limit=20)
    await follow(latest)
    await call("get_message", message_id=latest["messages"][0]["id"])
    await call("get_message", message_id=page["messages"][3]["id"])
    # The second conversation, whole, then its end again.
    await call("get_case_messages", case_number=second, limit=100)
    await call("get_case_messages", case_number=second, order="newest_first", limit=10)
    await call("get_case", case_id=by_size[1]["id"])
    # Other cases like theirs: by status and brand, two pages, and a re-run of the first.
    brand = by_size[0]["workflow"]["customProperties"][DEFAULT_CUSTOM_FIELDS["Brand"]][0]
    first = await call("search_cases", status=["Open", "Pending"], brand=[brand], page_size=10)
    await follow(first)
    await call("search_cases", status=["Open", "Pending"], brand=[brand], page_size=10)
    urgent = await call("search_cases", priority=["High", "Urgent"], status=["Open"], page_size=5)
    for row in first["results"][:4]:
        await call("get_case", case_number=row["case_number"])
    other = first["results"][0]["case_number"]
    await call("get_case_messages", case_number=other, order="newest_first", limit=10)
    await call("get_case", case_number=urgent["results"][0]["case_number"])
    # What else customers said around the time of the long conversation.
    start = by_size[0]["createdTime"] // 1000
    since = time.strftime("%Y-%m-%d", time.gmtime(start - 7 * 86400))
    until = time.strftime("%Y-%m-%d", time.gmtime(start + 7 * 86400))
    said = await call("search_messages", since=since, until=until, sentiment=["negative"], page_size=10)
    await follow(said)
    for row in said["results"][:3]:
        await call("get_message", message_id=row["id"])
    await call("quota_status")
    # Re-reading what was already seen, as an agent does when writing the reply.
    await call("lookup_profile", profile_id=customer["id"])
    await call("get_case", case_number=big)
    await call("get_case_messages", case_number=big, order="newest_first", limit=20)
    await call("get_case_messages", case_number=big)
    await call("get_case_messages", case_number=second, limit=100)
    for number in recent[:4]:
        await call("get_case", case_number=number)
    await call("search_cases", priority=["High", "Urgent"], status=["Open"], page_size=5)
    await call("get_case", case_id=by_size[0]["id"])
    await call("quota_status")


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> Settings:
    """Server settings against the in-process sandbox, with an in-memory ledger."""
    config = sandbox.config
    values: dict[str, Any] = {
        "env": config.env,
        "api_key": config.api_key,
        "access_token": config.access_token,
        "base_url": sandbox.base_url,
        "ledger_path": ":memory:",
    }
    values.update(overrides)
    return load_settings(**values)


async def _latencies(sandbox: RunningSandbox, admin: Sandbox, quick: bool) -> dict[str, Any]:
    """Cache hit against upstream call, in-process; and 20 concurrent identical calls against upstream requests."""
    await admin.reset()
    await admin.configure(**OPEN_LIMITS, latency_ms=0)
    data = sandbox.app_state.dataset
    numbers = [c["caseNumber"] for c in data.cases[:: max(1, len(data.cases) // (15 if quick else 60))]]
    settings = settings_for(sandbox, **SERVER_OPEN_LIMITS)
    upstream: list[float] = []
    hits: list[float] = []
    async with Client(build_server(settings)) as client:
        log = CallLog()
        await timed_call(client, log, "quota_status", {})  # the first call pays for lazy set-up, not measured
        for number in numbers:
            before = len(log.latencies)
            await timed_call(client, log, "get_case", {"case_number": number})
            upstream.append(log.latencies[before])
            await timed_call(client, log, "get_case", {"case_number": number})
            hits.append(log.latencies[before + 1])
        # Single flight: 20 identical calls at once for a case nobody has fetched, with the sandbox slowed to 50 ms
        # so that all of them are in flight together.
        await admin.configure(latency_ms=50)
        fresh = next(c["caseNumber"] for c in reversed(data.cases) if c["caseNumber"] not in numbers)
        before_requests = await admin.requests()
        coalesce_log = CallLog()
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(timed_call, client, coalesce_log, "get_case", {"case_number": fresh})
        coalesced_upstream = await admin.requests() - before_requests
        stats = await cache_stats(client)
        await admin.configure(latency_ms=0)
    return {
        "upstream_ms": [round(s * 1000, 3) for s in upstream],
        "hit_ms": [round(s * 1000, 3) for s in hits],
        "upstream_p50_ms": round(percentile(upstream, 50) * 1000, 3),
        "hit_p50_ms": round(percentile(hits, 50) * 1000, 3),
        "failures": log.failures + coalesce_log.failures,
        "coalesce_calls": 20,
        "coalesce_upstream": coalesced_upstream,
        "coalesce_cache": stats.get("cache", {}),
    }


async def run(quick: bool) -> BenchResult:
    """The session against a fresh sandbox with Sprinklr's limits; then the latency and single-flight figures."""
    result = BenchResult("economy")
    with running_sandbox(SandboxConfig()) as sandbox:
        # The sandbox runs on a thread of this process; its admin API is reached over loopback like any other.
        admin = Sandbox(sandbox.base_url, sandbox.admin_url, os.getpid())
        data = sandbox.app_state.dataset
        ideal = Ideal(data)
        async with Client(build_server(settings_for(sandbox))) as client:
            session = Session(client, ideal)
            started = time.perf_counter()
            await support_session(session, data)
            elapsed = time.perf_counter() - started
            status = await cache_stats(client)
        stats = await admin.stats()
        latencies = await _latencies(sandbox, admin, quick)
    actual = int(stats["requests"])
    result.add(Metric("session upstream requests", actual, "requests", ideal.requests, "minimum", TARGET_RATIO))
    result.add(Metric("session upstream vs offline minimum", actual, "requests", ideal.offline(), "offline minimum"))
    result.add(Metric("failed calls", len(session.log.failures) + len(latencies["failures"]), "calls", target=0))
    hit, upstream = latencies["hit_p50_ms"], latencies["upstream_p50_ms"]
    result.add(Metric("median cache hit (in-process)", hit, "ms", upstream, "upstream call"))
    result.add(Metric("20 concurrent identical calls", latencies["coalesce_upstream"], "requests", 1, "ideal", 1.0))
    result.details = {
        "session_calls": len(session.steps),
        "session_calls_by_tool": dict(Counter(session.steps)),
        "session_seconds": round(elapsed, 2),
        "session_latency_p50_ms": round(statistics.median(session.log.latencies) * 1000, 3),
        "upstream_by_route": stats["by_route"],
        "minimum_by_kind": dict(ideal.by_kind),
        "minimum_online": ideal.requests,
        "minimum_offline": ideal.offline(),
        "rate_limited_by_sandbox": stats["rate_limited"],
        "server_cache_after_session": status.get("cache", {}),
        "server_upstream_calls": status.get("upstream_calls"),
        "latency": latencies,
        "failures": session.log.failures[:10],
    }
    return result
