"""questions: a support agent's everyday questions, asked of this version and of version 1 side by side.

For each question the script makes the calls a model would make, reading only the *text* of each result (as most
hosts show the model), and records the calls, the characters of text read, and whether the text answered the
question (checked against the sandbox's dataset). Version 1 (commit V1_COMMIT) runs from a git worktree of this
repository against the same sandbox, with its own tool names; where it has no way to answer, the attempt a model
would make is recorded and the question counts as unanswered.

`python -m bench.questions` prints the table; bench.run includes it as "questions".
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.harness import ROOT, BenchResult, Metric, sandbox_process, server_env, stdio_server
from server.sandbox.data import QUEUES, Dataset, cached_dataset

V1_COMMIT = "d150677"
NEXT = re.compile(r"^Next page: (\w+) (\{.*\})$", re.MULTILINE)
JSON = dict[str, Any]


@dataclass
class Attempt:
    """One question asked of one version: the calls made, the text read, and whether it answered."""

    calls: int = 0
    chars: int = 0
    answered: bool = False
    texts: list[str] = field(default_factory=list)

    async def ask(self, client: Client, tool: str, arguments: JSON) -> str:
        """Call a tool and read its text, as a model would."""
        result = await client.call_tool(tool, arguments)
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        self.calls += 1
        self.chars += len(text)
        self.texts.append(text)
        return text


Question = Callable[[Client, Dataset, Attempt], Awaitable[None]]


@dataclass(frozen=True)
class Facts:
    """What the questions are about, chosen from the dataset: a case, a brand, an agent, this week's cases."""

    case: JSON
    brand: str
    agent_id: str
    agent_name: str
    week: list[JSON]


def facts(data: Dataset) -> Facts:
    """A case with a conversation, a brand with open urgent cases this week, and an agent with cases."""
    since = (datetime.now(UTC) - timedelta(days=7)).timestamp() * 1000
    week = [c for c in data.cases if c["createdTime"] >= since and not c["deleted"]]
    urgent = Counter(
        c["workflow"]["customProperties"]["5cc9a7cfe4b01904c8dfc908"][0]
        for c in week
        if c["status"] == "Open" and c["priority"] == "Urgent"
    )
    brand = (
        urgent.most_common(1)[0][0]
        if urgent
        else data.cases[-1]["workflow"]["customProperties"]["5cc9a7cfe4b01904c8dfc908"][0]
    )
    case = next(c for c in reversed(data.cases) if not c["deleted"] and len(data.case_message_ids[c["id"]]) >= 6)
    assigned = Counter(
        str(c["workflow"]["assignment"]["assigneeId"]) for c in data.cases if "assignment" in c["workflow"]
    )
    users = {str(u["id"]): u["name"] for u in data.users}
    agent_id = next(uid for uid, _ in assigned.most_common() if uid in users)
    return Facts(case, brand, agent_id, users[agent_id], week)


def open_urgent(f: Facts) -> set[int]:
    """This week's open urgent cases of the brand (the oracle)."""
    return {
        c["caseNumber"]
        for c in f.week
        if c["status"] == "Open"
        and c["priority"] == "Urgent"
        and f.brand in c["workflow"]["customProperties"]["5cc9a7cfe4b01904c8dfc908"]
    }


def numbers_in(text: str) -> set[int]:
    """Case numbers a text mentions as case_number fields."""
    return {int(n) for n in re.findall(r"case_number: (\d+)", text)}


# -- this version --------------------------------------------------------------------------------------------------


def after(f: Facts, data: Dataset) -> dict[str, Question]:
    """The questions as a model asks this version."""
    number = f.case["caseNumber"]
    messages = [data.message_by_id[m] for m in data.case_message_ids[f.case["id"]]]
    last_customer = next(m for m in reversed(messages) if not m["brandPost"])

    async def summarise(client: Client, _: Dataset, a: Attempt) -> None:
        case = await a.ask(client, "get_case", {"case_number": number, "activity": True})
        talk = await a.ask(client, "get_case_messages", {"case_number": number, "order": "newest_first", "limit": 8})
        a.answered = f.case["subject"][:30] in case and last_customer["content"]["text"][:30] in talk

    async def next_page(client: Client, _: Dataset, a: Attempt) -> None:
        first = await a.ask(client, "search_cases", {"status": ["Open"], "page_size": 5})
        found = NEXT.search(first)
        if found:
            second = await a.ask(client, found.group(1), json.loads(found.group(2)))
            a.answered = bool(numbers_in(second)) and not numbers_in(first) & numbers_in(second)

    async def urgent(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(
            client,
            "search_cases",
            {"status": ["open"], "priority": ["urgent"], "brand": [f.brand.lower()], "last_days": 7},
        )
        a.answered = numbers_in(text) == open_urgent(f)

    async def who(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "get_case", {"case_number": number})
        assignee = str(f.case["workflow"].get("assignment", {}).get("assigneeId", ""))
        queue = next(name for name, qid in QUEUES.items() if qid == f.case["workflow"]["queues"][-1]["queueId"])
        users = {str(u["id"]): u["name"] for u in data.users}
        a.answered = (not assignee or users.get(assignee, "?") in text) and queue in text

    async def assigned(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_cases", {"assignee": [f.agent_name], "page_size": 5})
        theirs = {
            c["caseNumber"] for c in data.cases if not c["deleted"]
            and str(c["workflow"].get("assignment", {}).get("assigneeId")) == f.agent_id
        }  # fmt: skip
        a.answered = bool(numbers_in(text)) and numbers_in(text) <= theirs

    async def per_status(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_cases", {"count_by": "status", "last_days": 7})
        expected = Counter(c["status"] for c in f.week)
        a.answered = all(f"{status}: {count}" in text for status, count in expected.items())

    async def mentions(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_messages", {"text": "refund", "last_days": 30, "page_size": 10})
        a.answered = bool(numbers_in(text))

    async def waiting(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "get_case", {"case_number": number, "activity": True})
        expected = "waiting_on_brand: yes" if not messages[-1]["brandPost"] else "waiting_on_brand: no"
        a.answered = expected in text

    async def last_week(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_cases", {"last_days": 7, "page_size": 10})
        a.answered = f"of {len(f.week)} matching" in text

    return {
        "summarise case N and what the customer wants": summarise,
        "next page, please": next_page,
        "open urgent cases for brand B this week": urgent,
        "who is handling it, which queue?": who,
        "which cases are assigned to agent Y?": assigned,
        "how many cases per status this week?": per_status,
        "cases that mention 'refund'": mentions,
        "is the customer waiting on us?": waiting,
        "cases of the last 7 days": last_week,
    }


# -- version 1 ---------------------------------------------------------------------------------------------------


def before(f: Facts, data: Dataset) -> dict[str, Question]:
    """The same questions as a model would ask version 1 (its tool names and arguments)."""
    number = f.case["caseNumber"]
    messages = [data.message_by_id[m] for m in data.case_message_ids[f.case["id"]]]
    last_customer = next(m for m in reversed(messages) if not m["brandPost"])
    week_start = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def summarise(client: Client, _: Dataset, a: Attempt) -> None:
        case = await a.ask(client, "get_case_by_number", {"case_number": number})
        talk = await a.ask(client, "get_case_messages", {"case_number": number, "order": "newest_first", "limit": 8})
        a.answered = f.case["subject"][:30] in case and last_customer["content"]["text"][:30] in talk

    async def next_page(client: Client, _: Dataset, a: Attempt) -> None:
        first = await a.ask(client, "search_cases", {"status": ["Open"], "page_size": 5})
        # The text says "call search_cases with cursor=next_cursor" but never holds the cursor: a model reading
        # text cannot continue.
        a.answered = bool(NEXT.search(first))

    async def urgent(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(
            client,
            "search_cases",
            {"status": ["open"], "priority": ["urgent"], "brand": [f.brand.lower()], "created_after": week_start},
        )
        a.answered = numbers_in(text) == open_urgent(f) and bool(open_urgent(f))

    async def who(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "get_case_by_number", {"case_number": number})
        users = {str(u["id"]): u["name"] for u in data.users}
        assignee = str(f.case["workflow"].get("assignment", {}).get("assigneeId", ""))
        queue = next(name for name, qid in QUEUES.items() if qid == f.case["workflow"]["queues"][-1]["queueId"])
        a.answered = (not assignee or users.get(assignee, "?") in text) and queue in text

    async def assigned(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_cases", {"assignee": [f.agent_name], "page_size": 5})
        a.answered = bool(numbers_in(text))

    async def per_status(client: Client, _: Dataset, a: Attempt) -> None:
        # One search per status the model guesses, each returning a row.
        expected = Counter(c["status"] for c in f.week)
        found = {}
        for status in ("New", "Open", "Pending", "Closed"):
            text = await a.ask(
                client, "search_cases", {"status": [status], "created_after": week_start, "page_size": 1}
            )
            total = re.search(r"of (\d+)", text)
            found[status] = int(total.group(1)) if total else 0
        a.answered = all(found.get(status) == count for status, count in expected.items())

    async def mentions(client: Client, _: Dataset, a: Attempt) -> None:
        since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
        until = datetime.now(UTC).date().isoformat()
        text = await a.ask(
            client, "search_messages", {"text": "refund", "since": since, "until": until, "page_size": 10}
        )
        a.answered = bool(numbers_in(text))

    async def waiting(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "get_case_messages", {"case_number": number, "order": "newest_first", "limit": 1})
        side = "side: customer" if not messages[-1]["brandPost"] else "side: brand"
        a.answered = side in text

    async def last_week(client: Client, _: Dataset, a: Attempt) -> None:
        text = await a.ask(client, "search_cases", {"created_after": week_start, "page_size": 10})
        a.answered = f"of {len(f.week)}." in text

    return {
        "summarise case N and what the customer wants": summarise,
        "next page, please": next_page,
        "open urgent cases for brand B this week": urgent,
        "who is handling it, which queue?": who,
        "which cases are assigned to agent Y?": assigned,
        "how many cases per status this week?": per_status,
        "cases that mention 'refund'": mentions,
        "is the customer waiting on us?": waiting,
        "cases of the last 7 days": last_week,
    }


# -- running ---------------------------------------------------------------------------------------------------------


def v1_checkout() -> Path | None:
    """A worktree of version 1 (made once, in the temp folder), or None when git cannot make one."""
    target = Path(tempfile.gettempdir()) / f"sprinklr-mcp-v1-{V1_COMMIT}"
    if (target / "server").exists():
        return target
    made = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), V1_COMMIT],
        capture_output=True,
        check=False,
    )
    return target if made.returncode == 0 else None


def tool_list_size(tools: list[Any]) -> int:
    """Characters of the model-facing tool list: names, descriptions, input schemas as served."""
    return sum(
        len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema, separators=(",", ":"))) for t in tools
    )


async def ask_all(client: Client, questions: dict[str, Question], data: Dataset) -> dict[str, Attempt]:
    """Every question in turn, through one session, as one conversation would ask them."""
    answers = {}
    for name, question in questions.items():
        attempt = Attempt()
        try:
            await question(client, data, attempt)
        except Exception as exc:
            attempt.texts.append(f"failed: {type(exc).__name__}")
        answers[name] = attempt
    return answers


async def run(quick: bool) -> BenchResult:
    """Ask every question of this version and of version 1 against one sandbox; print calls and characters."""
    result = BenchResult("questions")
    data = cached_dataset()
    f = facts(data)
    env_extra = {"SPRINKLR_MCP_QUEUE_NAMES": json.dumps(QUEUES)}
    with sandbox_process(rate_per_second=100_000, rate_per_hour=10_000_000) as sandbox:
        async with Client(stdio_server(["-m", "server", "serve"], server_env(sandbox, **env_extra))) as ours:
            size_after = tool_list_size((await ours.list_tools()).tools)
            answers_after = await ask_all(ours, after(f, data), data)
        checkout = v1_checkout()
        answers_before: dict[str, Attempt] = {}
        size_before = None
        if checkout is not None:
            env = {**server_env(sandbox, **env_extra), "PYTHONPATH": str(checkout)}
            params = stdio_server(["-m", "server", "serve"], env)
            params.cwd = str(checkout)
            async with Client(params) as old:
                size_before = tool_list_size((await old.list_tools()).tools)
                answers_before = await ask_all(old, before(f, data), data)
    result.add(Metric("model-facing tool list", size_after, "chars", size_before, "version 1"))
    result.add(Metric("model-facing tool list (goal)", size_after, "chars", target=8000))
    targets = {
        "summarise case N and what the customer wants": (2, 4000),
        "open urgent cases for brand B this week": (1, None),
        "how many cases per status this week?": (1, None),
    }
    answered = 0
    for name, attempt in answers_after.items():
        old = answers_before.get(name)
        answered += attempt.answered
        calls_target, chars_target = targets.get(name, (None, None))
        result.add(
            Metric(
                f"{name}: answered",
                int(attempt.answered),
                "yes=1",
                int(old.answered) if old else None,
                "version 1",
                None if name not in targets else 1,
                higher_is_better=True,
            )
        )
        result.add(Metric(f"{name}: calls", attempt.calls, "calls", old.calls if old else None, "version 1"))
        if calls_target is not None:
            result.add(Metric(f"{name}: calls (goal)", attempt.calls, "calls", target=calls_target))
        result.add(Metric(f"{name}: text read", attempt.chars, "chars", old.chars if old else None, "version 1"))
        if chars_target is not None:
            result.add(Metric(f"{name}: text read (goal)", attempt.chars, "chars", target=chars_target))
    result.add(
        Metric(
            "questions answered",
            answered,
            "of 9",
            sum(a.answered for a in answers_before.values()) if answers_before else None,
            "version 1",
            higher_is_better=True,
        )
    )
    result.details = {
        "facts": {"case": f.case["caseNumber"], "brand": f.brand, "agent": f.agent_name, "week": len(f.week)},
        "after": {k: {"calls": v.calls, "chars": v.chars, "answered": v.answered} for k, v in answers_after.items()},
        "before": {k: {"calls": v.calls, "chars": v.chars, "answered": v.answered} for k, v in answers_before.items()},
        "version_1": V1_COMMIT if answers_before else "not available (git worktree failed)",
    }
    return result


if __name__ == "__main__":
    from bench.run import table

    print(table([anyio.run(run, False)]))
