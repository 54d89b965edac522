"""Mixed tool calls from many concurrent MCP client sessions over streamable HTTP, for throughput and soak runs."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from bench.harness import CallLog, timed_call
from server.sandbox import SandboxConfig
from server.sandbox.data import Dataset, cached_dataset
from server.settings import DEFAULT_CUSTOM_FIELDS

# A tool call: name, arguments, and whether an error result is the right answer.
Call = tuple[str, dict[str, Any], bool]
# Share of each kind of question in the mix (relative weights); both case kinds are get_case calls.
MIX: dict[str, int] = {
    "case_by_number": 35,
    "get_case_messages": 25,
    "search_cases": 12,
    "lookup_profile": 10,
    "case_by_id": 6,
    "get_message": 4,
    "search_messages": 4,
    "quota_status": 4,
}
BRAND = DEFAULT_CUSTOM_FIELDS["Brand"]
STATUSES = ("Open", "Pending", "Closed", "Resolved", "New")


def dataset() -> Dataset:
    """The dataset the sandbox serves (generated from the same seed, so the same in this process)."""
    config = SandboxConfig()
    return cached_dataset(config.seed, config.cases, config.profiles, config.target_messages)


@dataclass
class Questions:
    """What the load asks about: a pool of cases, conversations, searches, customers and message windows."""

    case_numbers: list[int]
    case_ids: list[str]
    conversations: list[int]
    searches: list[dict[str, Any]]
    emails: list[str]
    message_ids: list[str]
    message_searches: list[dict[str, Any]]
    unknown_share: float = 0.0  # share of case lookups for numbers that do not exist (the right answer is an error)
    cold_numbers: list[int] = field(default_factory=list)  # cases outside the pool, which cost an upstream call
    cold_share: float = 0.0  # share of all calls that ask for one of them

    def pick(self, rng: random.Random) -> Call:
        """One question, drawn with the weights of MIX."""
        if self.cold_numbers and rng.random() < self.cold_share:
            return "get_case", {"case_number": rng.choice(self.cold_numbers)}, False
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "case_by_number":
            if rng.random() < self.unknown_share:
                return "get_case", {"case_number": 9_000_000 + rng.randrange(1000)}, True
            return "get_case", {"case_number": rng.choice(self.case_numbers)}, False
        if kind == "case_by_id":
            return "get_case", {"case_id": rng.choice(self.case_ids)}, False
        if kind == "get_case_messages":
            order = rng.choice(("oldest_first", "newest_first"))
            return kind, {"case_number": rng.choice(self.conversations), "order": order, "limit": 25}, False
        if kind == "search_cases":
            return kind, dict(rng.choice(self.searches)), False
        if kind == "lookup_profile":
            return kind, {"email": rng.choice(self.emails)}, False
        if kind == "get_message":
            return kind, {"message_id": rng.choice(self.message_ids)}, False
        if kind == "search_messages":
            return kind, dict(rng.choice(self.message_searches)), False
        return kind, {}, False


def _day(epoch_ms: int, shift_days: int = 0) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_ms // 1000 + shift_days * 86400))


def _moment(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms // 1000))


def warm_questions(data: Dataset, *, cases: int, conversations: int, cold_share: float) -> Questions:
    """A small pool that a short warm-up can put wholly in the cache: what a busy team keeps asking about; and,
    for `cold_share` of the calls, a case outside it (an upstream call, paced by the quota guard)."""
    live = [c for c in data.cases if not c["deleted"]]
    # The newest cases, as the first result pages of an unfiltered search would bring them.
    newest = sorted(live, key=lambda c: c["createdTime"], reverse=True)[:cases]
    pool = {c["caseNumber"] for c in newest}
    chosen = newest[:conversations]
    emails = [p["contact"]["email"] for p in data.profiles if "email" in p["contact"]][:5]
    ids = [mid for c in chosen[:3] for mid in data.case_message_ids[c["id"]][:5]]
    last = max(data.message_times)
    return Questions(
        case_numbers=[c["caseNumber"] for c in newest],
        case_ids=[c["id"] for c in newest[:50]],
        conversations=[c["caseNumber"] for c in chosen],
        searches=[
            {"status": ["Open"], "page_size": 10},
            {"status": ["Open", "Pending"], "priority": ["High", "Urgent"], "page_size": 10},
            {"priority": ["Urgent"], "page_size": 20},
            {"status": ["Pending"], "sort": "modified", "page_size": 10},
        ],
        emails=emails,
        message_ids=ids,
        message_searches=[
            {"since": _day(last, -30), "until": _day(last), "sentiment": ["negative"], "page_size": 10},
            {"since": _day(last, -7), "until": _day(last), "side": "customer", "page_size": 10},
        ],
        cold_numbers=[c["caseNumber"] for c in live if c["caseNumber"] not in pool],
        cold_share=cold_share,
    )


def all_questions(data: Dataset, rng: random.Random, *, unknown_share: float) -> Questions:
    """The whole dataset: every case, conversation, customer and message, and many distinct searches."""
    live = [c for c in data.cases if not c["deleted"]]
    brands = sorted({c["workflow"]["customProperties"].get(BRAND, ["?"])[0] for c in live})
    searches: list[dict[str, Any]] = []
    for brand in brands:
        for status in STATUSES:
            searches.append({"status": [status], "brand": [brand], "page_size": rng.choice((5, 10, 20))})
    # Windows of creation time, each holding about 50 cases: many distinct searches over the whole dataset.
    created = sorted(c["createdTime"] for c in live)
    for start in range(0, len(created) - 1, 50):
        low, high = created[start], created[min(start + 49, len(created) - 1)]
        searches.append({"created_after": _moment(low), "created_before": _moment(high), "page_size": 50})
    first, last = min(data.message_times), max(data.message_times)
    windows = []
    for _ in range(40):
        start = rng.randrange(first, last)
        windows.append({"since": _day(start), "until": _day(start, 14), "page_size": 20})
    return Questions(
        case_numbers=[c["caseNumber"] for c in data.cases],
        case_ids=[c["id"] for c in data.cases],
        conversations=[c["caseNumber"] for c in data.cases],
        searches=searches,
        emails=[p["contact"]["email"] for p in data.profiles if "email" in p["contact"]],
        message_ids=[m["messageId"] for m in data.messages],
        message_searches=windows,
        unknown_share=unknown_share,
    )


@dataclass
class Load:
    """The outcome of a load run."""

    log: CallLog = field(default_factory=CallLog)
    started: float = 0.0  # wall clock, to match the sandbox's request log
    ended: float = 0.0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Calls per second served."""
        return self.log.calls / self.seconds if self.seconds else 0.0


async def drive(
    url: str,
    questions: Questions,
    *,
    sessions: int,
    seconds: float,
    max_calls: int | None = None,
    seed: int = 1,
    tolerate: tuple[str, ...] = (),
) -> Load:
    """`sessions` concurrent client sessions asking `questions` until `seconds` pass or `max_calls` are made."""
    load = Load(CallLog(tolerate=tolerate))
    connected = 0
    go = anyio.Event()
    clock: dict[str, float] = {}

    async def worker(index: int) -> None:
        nonlocal connected
        rng = random.Random(seed * 1000 + index)
        # Each session is opened and closed in its own task (the SDK's task groups require it), and all of them
        # before the clock starts: connecting is not what is measured.
        async with Client(url) as client:
            connected += 1
            if connected == sessions:
                clock["deadline"] = time.monotonic() + seconds
                clock["begun"] = time.perf_counter()
                load.started = time.time()
                go.set()
            await go.wait()
            while time.monotonic() < clock["deadline"] and (max_calls is None or load.log.calls < max_calls):
                name, arguments, expect_error = questions.pick(rng)
                await timed_call(client, load.log, name, arguments, expect_error=expect_error)
            # The last session to finish its last call ends the run.
            clock["ended"] = time.perf_counter()
            load.ended = time.time()

    async with anyio.create_task_group() as group:
        for index in range(sessions):
            group.start_soon(worker, index)
    load.seconds = clock["ended"] - clock["begun"]
    return load
