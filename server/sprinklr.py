"""SprinklrClient: one typed async method per read, every one through the shared cache, the quota and the call cap.

The client has no write methods, and below it the read-only guard refuses anything off the allow-list anyway.

Where the reference is silent the client assumes nothing it cannot check: associated-message pages are followed
until one brings nothing new (whatever their size or order), `page.start` is used only in the reading that was
found to hold, the MESSAGE time filter falls back to the other documented form when one is refused, and every
`errors` list that comes beside data is read and reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

import httpx2 as httpx
from cachetools import LRUCache
from pydantic import ValidationError

from server import call
from server.cache import TTL, Cache
from server.call import CallCapReached
from server.errors import (
    BadRequest,
    InvalidKey,
    NotFound,
    RateLimited,
    SprinklrError,
    Unavailable,
    error_for,
    excerpt,
)
from server.findings import Findings, FindingsStore, PageStart
from server.models import Case, FieldDef, Message, Profile, User, message_id_parts
from server.quota import Priority
from server.scrub import Scrubber
from server.tenant import Tenant
from server.transport import PRIORITY_EXTENSION

log = logging.getLogger(__name__)

M = TypeVar("M", Case, Message, Profile, User, FieldDef)
D = TypeVar("D", User, FieldDef)
SearchEntity = Literal["CASE", "MESSAGE", "PROFILE", "USER", "CUSTOM_FIELD"]
ProgressFn = Callable[[int, int], Awaitable[None]]
JSON = dict[str, Any]

BULK_FETCH_BATCH = 100
# Requests a conversation's id paging leaves to the same call for reading the messages (a page of them in bulk).
ROOM_AFTER_IDS = 3
# Messages a bulk fetch left out that one call asks for again, one by one.
SINGLE_RETRIES = 10
# Directory-like reads (users, custom fields) follow at most this many pages, and keep this many parsed in memory.
DIRECTORY_PAGES = 5
DIRECTORY_KEPT = DIRECTORY_PAGES * 100
# Parsed models kept for payloads served again from the memory cache: how many, and how much text one may hold.
PARSED_KEPT = 64
PARSED_TEXT_LIMIT = 8_000
# Sprinklr forgets a search cursor after 5 minutes; ours are not trusted past 4.5.
CURSOR_LIFETIME = 270.0
HOURS = 3600.0


@dataclass(frozen=True)
class Answer:
    """What Sprinklr sent: the data (unwrapped from its envelope), any errors beside it, and the body size."""

    data: Any
    errors: list[str]
    size: int
    enveloped: bool = True


@dataclass
class MessageIds:
    """A case's message ids in conversation order, and whether they are all of them."""

    ids: list[str]
    complete: bool


@dataclass
class SearchPage:
    """Rows of a search from position `offset`, and what is needed to continue after them."""

    entity: SearchEntity
    query_hash: str
    offset: int
    rows: list[JSON]
    total: int | None
    cursor: str | None
    issued: float
    notes: list[str] = field(default_factory=list)
    row_size: int = 1500


def unwrap(payload: Any, scrub: Scrubber) -> tuple[Any, list[str]]:
    """The data of a `{"data": ..., "errors": [...]}` envelope and its error messages, or a bare payload as is."""
    if not isinstance(payload, dict) or "data" not in payload:
        return payload, []
    # "data" beside "errors" is the envelope even when Sprinklr adds top-level fields of its own (e.g. "meta").
    if "errors" not in payload and not set(payload) <= {"data", "status", "message"}:
        return payload, []
    return payload["data"], _messages(payload.get("errors"), scrub)


def _messages(errors: Any, scrub: Scrubber) -> list[str]:
    """Sprinklr's error messages from an `errors` list, each a short printable excerpt."""
    if not isinstance(errors, list):
        return []
    found = []
    for item in errors:
        text = item.get("message") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            found.append(excerpt(text, scrub, 120))
    return found


def digest(value: Any) -> str:
    """A short, stable hash of a JSON-able value, for cache keys."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:24]


def message_time(message_id: str) -> int | None:
    """The channelCreatedTime (epoch ms) in a documented message id, or None."""
    parts = message_id_parts(message_id)
    return int(parts["time"]) if parts else None


class SprinklrClient:
    """Read-only access to Sprinklr's case, message, search, profile, user and custom-field reads."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        cache: Cache,
        *,
        tenant: Tenant,
        scrub: Scrubber,
        findings: FindingsStore | None = None,
        ttl: TTL | None = None,
    ) -> None:
        self._http = http
        self._scrub = scrub
        self._cache = cache
        self._tenant = tenant
        self._env = tenant.env
        self._findings = findings or FindingsStore(None)
        self._ttl = ttl or TTL()
        # Users and custom fields, parsed, for the cache period (small: at most DIRECTORY_KEPT of each).
        self._directories: dict[str, tuple[float, list[Any]]] = {}
        self._indexes: dict[str, tuple[Sequence[Any], Mapping[str, Any]]] = {}
        self._parsed: LRUCache[int, tuple[Any, Any]] = LRUCache(maxsize=PARSED_KEPT)
        self.upstream_calls = 0

    @property
    def env(self) -> str:
        """The Sprinklr environment this client reads from."""
        return self._env

    @property
    def tenant(self) -> Tenant:
        """Whose data this client reads."""
        return self._tenant

    @property
    def findings(self) -> Findings:
        """What has been found out about this account so far."""
        return self._findings.findings

    @property
    def findings_store(self) -> FindingsStore:
        """Where findings are kept (the probe replaces them)."""
        return self._findings

    # -- one request ---------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        priority: Priority = Priority.INTERACTIVE,
        not_found: str | None = None,
    ) -> Answer:
        """Send one request (charged to the call's cap); return the answer or raise the SprinklrError explaining it.

        `not_found` is the message for a 404: what was missing and what to try next.
        """
        scope = call.current()
        scope.spend(what)
        self.upstream_calls += 1
        try:
            response = await self._http.request(
                method, path, params=params, json=body, extensions={PRIORITY_EXTENSION: priority}
            )
        except httpx.TimeoutException:
            raise Unavailable(
                f"Sprinklr did not answer in time for {what}, after retries. Try again shortly; if it persists, "
                f"raise SPRINKLR_TIMEOUT_SECONDS."
            ) from None
        except httpx.TransportError as exc:
            host = self._http.base_url.host or "the Sprinklr API"
            raise Unavailable(
                f"Could not reach {host} for {what} ({type(exc).__name__}: the connection failed or broke, after "
                f"retries). Try again shortly; if it persists, check SPRINKLR_BASE_URL "
                f"(or SPRINKLR_ENV), the network, the proxy (HTTPS_PROXY) and CA settings (SSL_CERT_FILE)."
            ) from None
        if response.status_code == 404 and not_found is not None:
            raise NotFound(not_found)
        if response.status_code >= 400:
            raise error_for(response, what, self._env, self._scrub)
        try:
            payload = json.loads(response.content)
        except ValueError:
            shown = excerpt(response.text, self._scrub, 60)
            raise Unavailable(
                f"Sprinklr sent an answer for {what} that is not valid JSON ({shown!r}); nothing was cached. Try again."
            ) from None
        data, errors = unwrap(payload, self._scrub)
        if data is None and errors:
            # A 200 with no data and errors is Sprinklr's refusal, not an empty answer.
            if not_found is not None and any("not found" in e.lower() for e in errors):
                raise NotFound(not_found)
            raise SprinklrError(f"Sprinklr answered {what} with no data: {'; '.join(errors[:2])}.")
        scope.read(call.now())
        return Answer(data, errors, len(response.content), data is not payload)

    def _parse(self, model: type[M], raw: Any, what: str) -> M:
        """The wire model of a payload; a payload that cannot be shown raises (and is never cached).

        A payload the memory cache hands back again is the same object: its model is kept (for small payloads
        only, a few dozen at most, so the memo stays far below the cache's bound) and handed back as well.
        """
        kept = self._parsed.get(id(raw))
        # The entry holds the payload itself, so its id cannot be another object's while the entry lives.
        if kept is not None and kept[0] is raw and isinstance(kept[1], model):
            return kept[1]
        try:
            parsed = model.model_validate(raw)
        except ValidationError:
            raise SprinklrError(
                f"Sprinklr's answer for {what} was missing its identifier or was malformed; it cannot be shown."
            ) from None
        if isinstance(raw, dict) and sum(len(v) for v in raw.values() if isinstance(v, str)) <= PARSED_TEXT_LIMIT:
            self._parsed[id(raw)] = (raw, parsed)
        return parsed

    async def _cached(
        self,
        key_kind: str,
        parts: tuple[str | int, ...],
        fetch: Callable[[], Awaitable[Any]],
        ttl: float,
        *,
        fresh: bool = False,
    ) -> Any:
        """A value from the cache or from `fetch`, stored with the time it was read (shown as 'read at')."""

        async def stamped() -> tuple[Any, int]:
            value, size = await fetch()
            return {"at": call.now(), "v": value}, size

        entry = await self._cache.get_or_fetch(self._tenant.key(key_kind, *parts), stamped, ttl, fresh=fresh)
        if isinstance(entry, dict) and "v" in entry:
            if isinstance(entry.get("at"), int | float):
                call.current().read(float(entry["at"]))
            return entry["v"]
        return entry

    # -- cases ---------------------------------------------------------------------------------------------------

    async def case_by_number(self, case_number: int, *, fresh: bool = False) -> Case:
        """The case with this case number."""
        what = f"case {case_number}"
        missing = f"No case {case_number} in {self._env}. Check the number, or find the case with search_cases."

        async def fetch() -> tuple[Any, int]:
            answer = await self._call(
                "GET",
                "/api/v2/case/case-numbers",
                what=what,
                params={"case-number": str(case_number)},
                not_found=missing,
            )
            data = answer.data
            # Documented as one case; in practice a list (one per number asked for).
            found = [item for item in (data if isinstance(data, list) else [data]) if isinstance(item, dict)]
            match = next((c for c in found if str(c.get("caseNumber")) == str(case_number)), None)
            if match is None and len(found) == 1 and found[0].get("caseNumber") is None:
                match = found[0]
            if match is None:
                raise NotFound(missing)
            self._parse(Case, match, what)
            await self._remember_case(match, answer.size)
            return match, answer.size

        return self._parse(Case, await self._cached("case-n", (case_number,), fetch, self._ttl.case, fresh=fresh), what)

    async def case_by_id(self, case_id: str, *, fresh: bool = False) -> Case:
        """The case with this internal id."""
        what = f"case {case_id}"
        missing = (
            f"No case with id {case_id} in {self._env}. Check the id; with a case number use case_number, or find "
            f"the case with search_cases."
        )

        async def fetch() -> tuple[Any, int]:
            answer = await self._call("GET", f"/api/v2/case/{case_id}", what=what, not_found=missing)
            data = answer.data[0] if isinstance(answer.data, list) and answer.data else answer.data
            if not isinstance(data, dict):
                raise NotFound(missing)
            self._parse(Case, data, what)
            await self._remember_case(data, answer.size)
            return data, answer.size

        return self._parse(Case, await self._cached("case-id", (case_id,), fetch, self._ttl.case, fresh=fresh), what)

    async def _remember_case(self, raw: JSON, size: int) -> None:
        """Cache a case under both its number and its id, so the next lookup either way costs no call."""
        entry = {"at": call.now(), "v": raw}
        if raw.get("id"):
            await self._cache.remember(self._tenant.key("case-id", raw["id"]), entry, size, self._ttl.case)
        if raw.get("caseNumber") is not None:
            await self._cache.remember(self._tenant.key("case-n", raw["caseNumber"]), entry, size, self._ttl.case)
            if isinstance(raw.get("firstMessageId"), str):
                # Which case a thread belongs to does not change: kept as long as messages are.
                key = self._tenant.key("first-msg", raw["firstMessageId"])
                await self._cache.remember(key, raw["caseNumber"], 64, self._ttl.message)

    async def cases_by_first_message(self, roots: Sequence[str]) -> dict[str, int]:
        """Case numbers by the id of their first message (a thread's root), where Sprinklr links them.

        Known links come from cases read before; the rest from one CASE search on firstMessageId, which the
        reference does not list as a filter key: if the account refuses it, that is remembered and only known
        links are used from then on.
        """
        wanted = list(dict.fromkeys(roots))
        found = await self._cache.get_many([self._tenant.key("first-msg", root) for root in wanted])
        links = {key.parts[0]: int(value) for key, value in found.items() if isinstance(value, int)}
        missing = [root for root in wanted if root not in links]
        if not missing or self.findings.extended_keys is False or not call.current().room():
            return links
        query = {"filter": {"type": "AND", "filters": [{"type": "IN", "key": "firstMessageId", "values": missing}]}}
        try:
            page = await self.search("CASE", query, offset=0, size=min(100, len(missing)))
        except BadRequest:
            self._findings.update(extended_keys=False)
            return links
        for row in page.rows:
            if isinstance(row.get("firstMessageId"), str) and isinstance(row.get("caseNumber"), int):
                links[row["firstMessageId"]] = row["caseNumber"]
        return links

    async def case_message_ids(self, case_id: str, *, fresh: bool = False) -> MessageIds:
        """Every message id of a case, oldest first, following Sprinklr's time cursor until a page brings nothing new.

        Nothing is assumed about the page size or the order of ids within a page: the next cursor is the latest
        time on the page. Paging stops on an empty page, a page with no new ids, a cursor that does not advance, or
        the call's request cap; then what was read so far is cached, and the next call continues from it.
        """
        what = f"the messages of case {case_id}"
        done_key = self._tenant.key("msg-ids", case_id)
        partial_key = self._tenant.key("msg-ids-partial", case_id)
        if not fresh:
            cached = await self._cache.get(done_key)
            if isinstance(cached, dict) and isinstance(cached.get("ids"), list):
                call.current().read(float(cached.get("at") or call.now()))
                return MessageIds([str(i) for i in cached["ids"]], complete=True)
        progress = None if fresh else await self._cache.get(partial_key)
        ids: list[str] = list(progress["ids"]) if isinstance(progress, dict) else []
        cursor: int | None = progress.get("cursor") if isinstance(progress, dict) else None
        seen = set(ids)
        size = 0
        scope = call.current()
        complete = False
        while True:
            # A few requests are left for what the call does with the ids (reading the messages themselves).
            if not scope.room(ROOM_AFTER_IDS + 1):
                break
            params = {"id": case_id} if cursor is None else {"id": case_id, "cursor": str(cursor)}
            answer = await self._call(
                "GET",
                "/api/v2/case/associated-messages",
                what=what,
                params=params,
                priority=Priority.INTERACTIVE if cursor is None else Priority.BULK,
            )
            size += answer.size
            page = [item for item in (answer.data if isinstance(answer.data, list) else []) if isinstance(item, str)]
            new = [item for item in page if item not in seen]
            times = [t for t in map(message_time, page) if t is not None]
            ids.extend(new)
            seen.update(new)
            self._findings_page(len(page))
            next_cursor = max(times) if times else None
            if not page or not new or next_cursor is None or (cursor is not None and next_cursor <= cursor):
                complete = True
                break
            cursor = next_cursor
        # Sprinklr lists ids in conversation order; pages in other orders are put back in time order here.
        ids.sort(key=lambda mid: (message_time(mid) or 0, mid))
        if complete:
            await self._cache.remember(done_key, {"at": call.now(), "ids": ids}, size, self._ttl.associated)
            await self._cache.forget(partial_key)
        else:
            await self._cache.remember(partial_key, {"ids": ids, "cursor": cursor}, size, self._ttl.partial)
            scope.note(
                f"The conversation is longer than one call may read ({len(ids)} message ids so far); call again to "
                f"read on from where this stopped."
            )
        return MessageIds(ids, complete)

    async def peek_message_ids(self, case_id: str) -> list[str] | None:
        """A case's message ids if the whole list is cached (no request), else None."""
        cached = await self._cache.get(self._tenant.key("msg-ids", case_id))
        if isinstance(cached, dict) and isinstance(cached.get("ids"), list):
            return [str(i) for i in cached["ids"]]
        return None

    async def peek_messages(self, message_ids: Sequence[str]) -> list[Message] | None:
        """These messages if every one is cached (no request), else None."""
        keys = [self._tenant.key("msg", mid) for mid in message_ids]
        found = await self._cache.get_many(keys)
        if len(found) < len(keys):
            return None
        messages = []
        for key in keys:
            entry = found[key]
            raw = entry.get("v") if isinstance(entry, dict) and "v" in entry else entry
            try:
                messages.append(Message.model_validate(raw))
            except ValidationError:
                return None
        return messages

    def _findings_page(self, size: int) -> None:
        if size > (self.findings.associated_page or 0):
            self.findings.associated_page = size  # informational; saved with the next finding

    # -- messages ------------------------------------------------------------------------------------------------

    async def messages(self, message_ids: Sequence[str], *, progress: ProgressFn | None = None) -> list[Message]:
        """These messages, from the cache where possible and in bulk-fetch batches otherwise, in the order asked.

        Messages Sprinklr does not return are left out, and the call's notes say how many and why.
        """
        wanted = list(dict.fromkeys(message_ids))
        found = await self._cache.get_many([self._tenant.key("msg", mid) for mid in wanted])
        by_id: dict[str, Any] = {key.parts[0]: value for key, value in found.items()}
        for value in by_id.values():
            if isinstance(value, dict) and isinstance(value.get("at"), int | float):
                call.current().read(float(value["at"]))
        missing = [mid for mid in wanted if mid not in by_id]
        done = len(wanted) - len(missing)
        if progress is not None and missing:
            await progress(done, len(wanted))
        unreadable: list[str] = []
        reasons: list[str] = []
        for start in range(0, len(missing), BULK_FETCH_BATCH):
            batch = missing[start : start + BULK_FETCH_BATCH]
            answer = await self._call(
                "POST",
                "/api/v2/message/bulk-fetch",
                what=f"{len(batch)} messages",
                body=batch,
                priority=Priority.INTERACTIVE if start == 0 else Priority.BULK,
            )
            items = [item for item in (answer.data if isinstance(answer.data, list) else []) if isinstance(item, dict)]
            per_item = max(1, answer.size // max(1, len(items)))
            at = call.now()
            for item in items:
                mid = item.get("messageId") or item.get("id")
                if isinstance(mid, str) and mid in batch:
                    by_id[mid] = {"at": at, "v": item}
                    await self._cache.remember(self._tenant.key("msg", mid), by_id[mid], per_item, self._ttl.message)
            unreadable.extend(mid for mid in batch if mid not in by_id)
            reasons.extend(answer.errors)
            done += len(batch)
            if progress is not None:
                await progress(done, len(wanted))
        alone = await self._read_alone(unreadable)
        unreadable = [mid for mid in unreadable if mid not in alone]
        if unreadable:
            why = f": {'; '.join(dict.fromkeys(reasons))[:200]}" if reasons else ""
            call.current().note(f"{len(unreadable)} of {len(wanted)} messages could not be read{why}.")
        result = []
        for mid in wanted:
            if mid in alone:
                result.append(alone[mid])
                continue
            entry = by_id.get(mid)
            raw = entry.get("v") if isinstance(entry, dict) and "v" in entry else entry
            if isinstance(raw, dict):
                try:
                    result.append(Message.model_validate(raw))
                except ValidationError:
                    call.current().note(f"Message {mid[:80]} came back malformed and is left out.")
        return result

    async def _read_alone(self, message_ids: list[str]) -> dict[str, Message]:
        """Messages a bulk fetch left out, asked for one by one (a few per call, within its cap).

        Sprinklr may leave items out of a multi-item answer as temporarily unavailable; asked for alone, such a
        message usually comes. One that is not found, or still fails, stays out and is reported.
        """
        found: dict[str, Message] = {}
        for mid in message_ids[:SINGLE_RETRIES]:
            if not call.current().room(2):
                break
            try:
                found[mid] = await self.message(mid)
            except (RateLimited, CallCapReached):
                break
            except SprinklrError:
                continue
        return found

    async def message(self, message_id: str) -> Message:
        """One message by its id."""
        what = f"message {message_id}"
        missing = (
            f"No message with id {message_id} in {self._env}. Check the id: get_case_messages and search_messages "
            f"list message ids."
        )

        async def fetch() -> tuple[Any, int]:
            answer = await self._call(
                "GET", "/api/v2/message/byMessageId", what=what, params={"messageId": message_id}, not_found=missing
            )
            data = answer.data[0] if isinstance(answer.data, list) and answer.data else answer.data
            if not isinstance(data, dict):
                raise NotFound(missing)
            self._parse(Message, data, what)
            return data, answer.size

        return self._parse(Message, await self._cached("msg", (message_id,), fetch, self._ttl.message), what)

    # -- profiles, users, custom fields ------------------------------------------------------------------------

    async def profiles(self, filters: list[JSON], *, size: int = 10) -> list[Profile]:
        """Profiles matching these PROFILE filters (ANDed), from the first page of a search."""
        page = await self.search("PROFILE", {"filter": {"type": "AND", "filters": filters}}, offset=0, size=size)
        found = []
        for row in page.rows:
            try:
                found.append(Profile.model_validate(row))
            except ValidationError:
                continue
        return found

    async def profile_by_id(self, profile_id: str) -> Profile:
        """One customer profile by its id, through PROFILE search on `id` (the documented way)."""
        found = await self.profiles([{"type": "EQUALS", "key": "id", "values": [profile_id]}], size=1)
        if not found:
            raise NotFound(
                f"No profile with id {profile_id} in {self._env}. Check the id, or look the customer up by email, "
                f"phone or channel id."
            )
        return found[0]

    async def users(self) -> Mapping[str, User]:
        """Every user (agent or bot) by id, for showing names instead of ids; {} if Sprinklr will not list them.

        The same mapping object while the directory is kept, so callers can recognise what they built from it.
        """
        return self._by_id("USER", await self._directory("USER", User))

    async def custom_fields(self) -> Mapping[str, FieldDef]:
        """Every custom field definition by id (names and picklist options); {} if Sprinklr will not list them."""
        return self._by_id("CUSTOM_FIELD", await self._directory("CUSTOM_FIELD", FieldDef))

    def _by_id(self, entity: str, items: Sequence[D]) -> Mapping[str, D]:
        kept = self._indexes.get(entity)
        if kept is not None and kept[0] is items:
            return cast(Mapping[str, D], kept[1])
        index = {item.id: item for item in items}
        self._indexes[entity] = (items, index)
        return index

    async def _directory(self, entity: Literal["USER", "CUSTOM_FIELD"], model: type[D]) -> list[D]:
        """A directory-like entity, read once per cache period (a refusal is remembered too, and costs no retries).

        Names are a convenience: when the quota or the call's cap leaves no room for them, ids are shown instead
        and the directory is read another time.
        """
        kept = self._directories.get(entity)
        if kept is not None and kept[0] > call.now():
            return cast(list[D], kept[1])  # stored under this entity, of this model; callers only read it
        try:
            rows = await self._cached("directory", (entity,), lambda: self._read_directory(entity), self._ttl.directory)
        except (RateLimited, CallCapReached) as exc:
            log.info("%s names skipped for now (%s)", entity, type(exc).__name__)
            return []
        found = []
        for row in rows if isinstance(rows, list) else []:
            try:
                found.append(model.model_validate(row))
            except ValidationError:
                continue
        if len(found) <= DIRECTORY_KEPT:
            # Parsed once per period, and kept out of the shared cache's eviction: a page of large records would
            # otherwise push the names out and every page would read them again.
            self._directories[entity] = (call.now() + self._ttl.directory, found)
        return found

    async def _read_directory(self, entity: Literal["USER", "CUSTOM_FIELD"]) -> tuple[Any, int]:
        rows: list[JSON] = []
        try:
            page = await self.search(entity, {}, offset=0, size=100, priority=Priority.BULK)
            rows.extend(page.rows)
            for _ in range(DIRECTORY_PAGES - 1):
                if page.cursor is None or not call.current().room():
                    break
                page = await self._next_page(page, 100)
                rows.extend(page.rows)
        except (BadRequest, NotFound, InvalidKey) as exc:
            # The entity is documented, but an account may not offer it or this key may not read it.
            log.info("%s search is not available (%s); showing ids instead of names", entity, exc)
        return rows, 200 * len(rows) + 100

    async def case_sample(self) -> list[Case]:
        """The most recent cases (one page of up to 100), to learn the values fields take in this account."""

        async def fetch() -> tuple[Any, int]:
            body = {
                "filter": {"type": "AND", "filters": [{"type": "EQUALS", "key": "deleted", "values": [False]}]},
                "sorts": [{"key": "createdTime", "order": "DESC"}],
            }
            page = await self.search("CASE", body, offset=0, size=100, priority=Priority.BULK)
            return page.rows, 1500 * len(page.rows) + 100

        rows = await self._cached("case-sample", (), fetch, self._ttl.directory)
        found = []
        for row in rows if isinstance(rows, list) else []:
            try:
                found.append(Case.model_validate(row))
            except ValidationError:
                continue
        return found

    # -- search ----------------------------------------------------------------------------------------------

    async def search(
        self,
        entity: SearchEntity,
        query: JSON,
        *,
        offset: int,
        size: int,
        fresh: bool = False,
        priority: Priority = Priority.INTERACTIVE,
    ) -> SearchPage:
        """Up to `size` results of a search from position `offset` (0-based); `query` holds filter, sorts, timeFilter.

        A page continues where an earlier call of this search stopped (its rows and Sprinklr's cursor are kept for
        4.5 minutes), else the search is run from `offset`, using `page.start` only in the reading found to hold.
        """
        query_hash = digest([entity, query])
        if not fresh:
            kept = await self._cache.get(self._tenant.key("search-at", entity, query_hash, offset))
            if isinstance(kept, dict) and isinstance(kept.get("rows"), list):
                page = SearchPage(
                    entity,
                    query_hash,
                    offset,
                    list(kept["rows"]),
                    kept.get("total"),
                    kept.get("cursor"),
                    float(kept.get("issued") or 0.0),
                    row_size=int(kept.get("row_size") or 1500),
                )
                call.current().read(page.issued)
                if len(page.rows) >= size or page.cursor is None:
                    return page
                try:
                    more = await self._next_page(page, size - len(page.rows))
                except BadRequest:
                    pass  # the cursor expired: run the search again from this position
                else:
                    page.rows.extend(more.rows)
                    page.cursor, page.total, page.issued = more.cursor, more.total or page.total, more.issued
                    return page
        if offset == 0:
            # No page.start on the first page: every reading of it agrees that the first page starts at the start.
            return await self._run(entity, query, query_hash, 0, {"size": size}, fresh=fresh, priority=priority)
        mode = self.findings.page_start or await self._detect_page_start()
        if mode == "page":
            number, skip = divmod(offset, size)
            page = await self._run(
                entity,
                query,
                query_hash,
                offset - skip,
                {"start": number + 1, "size": size},
                fresh=fresh,
                priority=priority,
            )
            page.rows, page.offset = page.rows[skip:], offset
            return page
        start = offset + 1 if mode == "position" else offset
        return await self._run(
            entity, query, query_hash, offset, {"start": start, "size": size}, fresh=fresh, priority=priority
        )

    async def _run(
        self,
        entity: SearchEntity,
        query: JSON,
        query_hash: str,
        offset: int,
        page: dict[str, int],
        *,
        fresh: bool,
        priority: Priority,
    ) -> SearchPage:
        body = {**query, "page": page, "includeCount": True}

        async def fetch() -> tuple[Any, int]:
            answer = await self._call(
                "POST", f"/api/v2/search/{entity}", what=f"{entity} search", body=body, priority=priority
            )
            payload = self._page_payload(answer)
            if priority is Priority.INTERACTIVE:  # background reads (samples, directories) do not fill the cache
                await self._warm(entity, payload["rows"], payload["row_size"])
            return payload, answer.size

        raw = await self._cached("search", (entity, digest(body)), fetch, self._ttl.search, fresh=fresh)
        return SearchPage(
            entity,
            query_hash,
            offset,
            list(raw["rows"]),
            raw["total"],
            raw["cursor"],
            raw["issued"],
            list(raw.get("notes") or []),
            int(raw.get("row_size") or 1500),
        )

    async def _warm(self, entity: SearchEntity, rows: list[JSON], row_size: int) -> None:
        """Search results are whole entities: keep them, so opening one next costs no call."""
        if entity == "CASE":
            for row in rows:
                await self._remember_case(row, row_size)
        elif entity == "MESSAGE":
            at = call.now()
            for row in rows:
                if isinstance(row.get("messageId"), str):
                    key = self._tenant.key("msg", row["messageId"])
                    await self._cache.remember(key, {"at": at, "v": row}, row_size, self._ttl.message)

    async def _next_page(self, page: SearchPage, wanted: int) -> SearchPage:
        """The page after Sprinklr's cursor (which must still be alive), as rows following `page`'s."""
        if page.cursor is None or call.now() - page.issued > CURSOR_LIFETIME:
            raise BadRequest("the search cursor has expired", "cursor expired")
        cursor = page.cursor

        async def fetch() -> tuple[Any, int]:
            answer = await self._call(
                "GET",
                f"/api/v2/search/{page.entity}",
                what=f"next {page.entity} page",
                params={"id": cursor},
                priority=Priority.BULK,
            )
            payload = self._page_payload(answer)
            await self._warm(page.entity, payload["rows"], payload["row_size"])
            return payload, answer.size

        raw = await self._cached("search-next", (page.entity, digest(cursor)), fetch, self._ttl.search)
        return SearchPage(
            page.entity,
            page.query_hash,
            page.offset + len(page.rows),
            list(raw["rows"]),
            raw["total"],
            raw["cursor"],
            raw["issued"],
            row_size=int(raw.get("row_size") or 1500),
        )

    def _page_payload(self, answer: Answer) -> JSON:
        data = answer.data
        if not isinstance(data, dict):
            raise Unavailable("Sprinklr's search answer was not understood (no result list). Try again.")
        rows = [item for item in data.get("results") or [] if isinstance(item, dict)]
        cursor = data.get("cursor")
        # The reference shows the cursor as "id=xxx" while the paging call takes ?id=xxx; some answers are bare.
        cursor = (cursor.strip().removeprefix("id=") or None) if isinstance(cursor, str) else None
        total = data.get("totalCount")
        notes = [f"Sprinklr reported: {'; '.join(answer.errors[:2])}"] if answer.errors else []
        return {
            "rows": rows,
            "cursor": cursor,
            "total": total if isinstance(total, int) and total >= 0 else None,
            "issued": call.now(),
            "notes": notes,
            # What one row weighs on the wire: the cache bounds memory by these sizes.
            "row_size": max(64, answer.size // max(1, len(rows))),
        }

    async def keep_rest(self, page: SearchPage, shown: int) -> bool:
        """Remember where a search shown up to `shown` rows of `page` continues; True when there is more."""
        rest = page.rows[shown:]
        end = page.offset + shown
        more = bool(rest) or page.cursor is not None or (page.total is not None and end < page.total)
        if more and (rest or page.cursor is not None):
            value = {
                "rows": rest,
                "cursor": page.cursor,
                "total": page.total,
                "issued": page.issued,
                "row_size": page.row_size,
            }
            key = self._tenant.key("search-at", page.entity, page.query_hash, end)
            await self._cache.remember(key, value, page.row_size * len(rest) + 200, CURSOR_LIFETIME)
        return more

    async def probe_read(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Answer:
        """One uncached read for `check --probe`, through the same guard, quota and cap as every other."""
        return await self._call(method, path, what=what, params=params, body=body, priority=Priority.BULK)

    async def recall(self, kind: str, *parts: str | int) -> Any:
        """A value a tool kept for this tenant with keep(), or None."""
        return await self._cache.get(self._tenant.key(f"tool-{kind}", *parts))

    async def keep(self, kind: str, parts: tuple[str | int, ...], value: Any, size: int, ttl: float) -> None:
        """Keep a tool's working state (e.g. how far a scan got) in the shared cache, in this tenant's namespace."""
        await self._cache.remember(self._tenant.key(f"tool-{kind}", *parts), value, size, ttl)

    async def _detect_page_start(self) -> PageStart:
        """Find out what `page.start` means here, with two small CASE searches, and remember it.

        The first five results in a fixed order, then a page of two from start=3: its first result is the third
        (1-based position), the fourth (0-based position) or the fifth (page number 3 of size 2).
        """
        body: JSON = {"filter": {"type": "AND", "filters": []}, "sorts": [{"key": "createdTime", "order": "DESC"}]}
        first = await self._call(
            "POST",
            "/api/v2/search/CASE",
            what="a page-numbering check",
            body={**body, "page": {"size": 5}},
            priority=Priority.BULK,
        )
        second = await self._call(
            "POST",
            "/api/v2/search/CASE",
            what="a page-numbering check",
            body={**body, "page": {"start": 3, "size": 2}},
            priority=Priority.BULK,
        )
        ids = [row.get("id") for row in self._page_payload(first)["rows"]]
        probe = [row.get("id") for row in self._page_payload(second)["rows"]]
        mode: PageStart = "position"
        if len(ids) == 5 and probe:
            readings: dict[Any, PageStart] = {ids[2]: "position", ids[3]: "position0", ids[4]: "page"}
            mode = readings.get(probe[0], "position")
            self._findings.update(page_start=mode)
        return mode

    def time_filter(self, since_ms: int, until_ms: int) -> JSON:
        """The MESSAGE timeFilter for an inclusive window, in the form this account takes (epoch ms by default)."""
        if self.findings.time_filter == "month":
            return {"key": "channelCreatedTime", "since": _month(since_ms), "until": _month(until_ms)}
        return {"key": "channelCreatedTime", "since": since_ms, "until": until_ms}

    async def search_messages(
        self, filters: list[JSON], since_ms: int, until_ms: int, *, offset: int, size: int
    ) -> tuple[SearchPage, bool]:
        """A MESSAGE search in a window; returns the page and whether the window was widened to whole months.

        The reference shows timeFilter as month strings and the client sends epoch ms; when Sprinklr refuses one
        form, the other is tried once and remembered.
        """
        tried: set[str] = set()
        # Three tries at most: each fallback (the other time-filter form, the documented sort key) happens once.
        for _ in range(3):
            sort_key = "createdTime" if self.findings.other_sorts is False else "channelCreatedTime"
            query = {
                "filter": {"type": "AND", "filters": filters},
                "timeFilter": self.time_filter(since_ms, until_ms),
                "sorts": [{"key": sort_key, "order": "DESC"}],
            }
            try:
                page = await self.search("MESSAGE", query, offset=offset, size=size)
            except BadRequest as exc:
                refused = exc.detail.lower()
                if "sort" in refused and sort_key != "createdTime" and "sort" not in tried:
                    # The reference only ever sorts on createdTime: fall back to it when another key is refused.
                    tried.add("sort")
                    self._findings.update(other_sorts=False)
                    continue
                if "time" not in tried and any(w in refused for w in ("timefilter", "since", "until", "time filter")):
                    tried.add("time")
                    self._findings.update(time_filter="month" if self.findings.time_filter != "month" else "epoch")
                    continue
                raise
            if self.findings.time_filter is None:
                self._findings.update(time_filter="epoch")
            return page, self.findings.time_filter == "month"
        raise AssertionError("unreachable")  # pragma: no cover


def _month(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m")
