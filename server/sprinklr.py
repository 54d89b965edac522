"""SprinklrClient: one typed async method per read endpoint, every one through the shared cache and the quota.

The client has no write methods. Below it, the read-only guard refuses anything off the allow-list anyway.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import httpx2 as httpx
from cachetools import LRUCache
from pydantic import ValidationError

from server.cache import TTL, Cache
from server.errors import NotFound, SprinklrError, Unavailable, error_for, excerpt
from server.models import Case, Message, Profile, SearchPage, message_id_parts
from server.quota import Priority
from server.scrub import Scrubber
from server.tenant import Tenant
from server.transport import PRIORITY_EXTENSION

M = TypeVar("M", Case, Message, Profile)
SearchEntity = Literal["CASE", "MESSAGE", "PROFILE"]
ProgressFn = Callable[[int, int], Awaitable[None]]

BULK_FETCH_BATCH = 100
ASSOCIATED_PAGE = 200


def unwrap(payload: Any) -> Any:
    """Return the data of a `{"data": ..., "errors": [...]}` envelope, or the payload itself when it came bare."""
    if not isinstance(payload, dict) or "data" not in payload:
        return payload
    # "data" beside "errors" is the envelope even when Sprinklr adds top-level fields of its own (e.g. "meta").
    if "errors" in payload or set(payload) <= {"data", "status", "message"}:
        return payload["data"]
    return payload


class SprinklrClient:
    """Read-only access to Sprinklr's case, message, search and profile endpoints."""

    def __init__(
        self, http: httpx.AsyncClient, cache: Cache, *, tenant: Tenant, scrub: Scrubber, ttl: TTL | None = None
    ) -> None:
        self._http = http
        self._scrub = scrub
        self._cache = cache
        self._tenant = tenant
        self._env = tenant.env
        self._ttl = ttl or TTL()
        # Parsed models of the most recently read payloads (a few pages): a hot cache hit skips validation. Kept small:
        # it lives outside the cache bound. Models are frozen, so sharing them is safe.
        self._parsed: LRUCache[int, tuple[Any, Case | Message | Profile]] = LRUCache(maxsize=256)
        self.upstream_calls = 0

    @property
    def env(self) -> str:
        """The Sprinklr environment this client reads from."""
        return self._env

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
    ) -> tuple[Any, int]:
        """Send one request; return (parsed JSON, body size) or raise the SprinklrError that explains the failure.

        `not_found` is the message for a 404: what was missing and what to try next.
        """
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
            raise Unavailable(
                f"Could not get {what} from Sprinklr ({type(exc).__name__}: the connection failed or broke, after "
                f"retries). Check the network, proxy (HTTPS_PROXY) and CA settings (SSL_CERT_FILE), then try again."
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
        return payload, len(response.content)

    async def _read_one(
        self, model: type[M], path: str, *, what: str, missing: str, params: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], int]:
        """GET one entity: its payload (checked to parse, since a payload that cannot be shown must not be cached)."""
        payload, size = await self._call("GET", path, what=what, params=params, not_found=missing)
        data = unwrap(payload)
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, dict):
            raise NotFound(missing)
        self._parse(model, data, what)
        return data, size

    # Cases

    async def get_case_by_number(self, case_number: int, *, fresh: bool = False) -> Case:
        """The case with this case number."""
        what = f"case with number {case_number}"
        missing = (
            f"No case with number {case_number} in {self._env}. Check the number, or find the case with search_cases."
        )

        async def fetch() -> tuple[Any, int]:
            payload, size = await self._call(
                "GET",
                "/api/v2/case/case-numbers",
                what=what,
                params={"case-number": str(case_number)},
                not_found=missing,
            )
            data = unwrap(payload)
            # Documented as one case; in practice a list (one per number asked for).
            found = [item for item in (data if isinstance(data, list) else [data]) if isinstance(item, dict)]
            match = next((c for c in found if str(c.get("caseNumber")) == str(case_number)), None)
            if match is None and len(found) == 1 and found[0].get("caseNumber") is None:
                match = found[0]
            if match is None:
                raise NotFound(missing)
            self._parse(Case, match, what)  # an answer that cannot be shown must not be cached either
            await self._remember_case(match, size, by_number=False)
            return match, size

        raw = await self._cache.get_or_fetch(
            self._tenant.key("case-n", case_number), fetch, self._ttl.case, fresh=fresh
        )
        return self._parse(Case, raw, what)

    async def get_case(self, case_id: str, *, fresh: bool = False) -> Case:
        """The case with this internal id."""
        what = f"case with id {case_id}"
        missing = (
            f"No case with id {case_id} in {self._env}. Check the id; with a case number, use get_case_by_number, "
            f"or find the case with search_cases."
        )

        async def fetch() -> tuple[Any, int]:
            data, size = await self._read_one(Case, f"/api/v2/case/{case_id}", what=what, missing=missing)
            await self._remember_case(data, size, by_id=False)
            return data, size

        raw = await self._cache.get_or_fetch(self._tenant.key("case-id", case_id), fetch, self._ttl.case, fresh=fresh)
        return self._parse(Case, raw, what)

    async def _remember_case(
        self, raw: dict[str, Any], size: int, *, by_id: bool = True, by_number: bool = True
    ) -> None:
        """Cache a case under its other key too, so a later lookup by id or number costs no call."""
        if by_id and raw.get("id"):
            await self._cache.remember(self._tenant.key("case-id", raw["id"]), raw, size, self._ttl.case)
        if by_number and raw.get("caseNumber") is not None:
            await self._cache.remember(self._tenant.key("case-n", raw["caseNumber"]), raw, size, self._ttl.case)

    async def get_case_message_ids(self, case_id: str, *, fresh: bool = False) -> list[str]:
        """Every message id of a case, in conversation order, following Sprinklr's time cursor."""
        what = f"messages of case {case_id}"

        async def fetch() -> tuple[Any, int]:
            ids: list[str] = []
            seen: set[str] = set()
            total_size = 0
            cursor: str | None = None
            while True:
                params = {"id": case_id} if cursor is None else {"id": case_id, "cursor": cursor}
                priority = Priority.INTERACTIVE if cursor is None else Priority.BULK
                payload, size = await self._call(
                    "GET", "/api/v2/case/associated-messages", what=what, params=params, priority=priority
                )
                total_size += size
                page = unwrap(payload)
                batch = [item for item in (page if isinstance(page, list) else []) if isinstance(item, str)]
                fresh_ids = [item for item in batch if item not in seen]
                ids.extend(fresh_ids)
                seen.update(fresh_ids)
                next_cursor = _message_time(batch[-1]) if batch else None
                # A short page is the last one; so is a page that brought nothing new or no usable cursor.
                if len(batch) < ASSOCIATED_PAGE or not fresh_ids or next_cursor is None or next_cursor == cursor:
                    return ids, total_size
                cursor = next_cursor

        value = await self._cache.get_or_fetch(
            self._tenant.key("msg-ids", case_id), fetch, self._ttl.associated, fresh=fresh
        )
        return [str(item) for item in value]

    # Messages

    async def get_messages(self, message_ids: Sequence[str], *, progress: ProgressFn | None = None) -> list[Message]:
        """These messages, from the cache where possible and in bulk-fetch batches otherwise, in the order asked."""
        wanted = list(dict.fromkeys(message_ids))
        found = await self._cache.get_many([self._tenant.key("msg", mid) for mid in wanted])
        by_id: dict[str, Any] = {key.parts[0]: value for key, value in found.items()}
        missing = [mid for mid in wanted if mid not in by_id]
        done = len(wanted) - len(missing)
        if progress is not None and missing:
            await progress(done, len(wanted))
        for start in range(0, len(missing), BULK_FETCH_BATCH):
            batch = missing[start : start + BULK_FETCH_BATCH]
            priority = Priority.INTERACTIVE if start == 0 else Priority.BULK
            payload, size = await self._call(
                "POST", "/api/v2/message/bulk-fetch", what=f"{len(batch)} messages", body=batch, priority=priority
            )
            data = unwrap(payload)
            items = [item for item in (data if isinstance(data, list) else []) if isinstance(item, dict)]
            per_item = max(1, size // max(1, len(items)))
            for item in items:
                mid = item.get("messageId") or item.get("id")
                if isinstance(mid, str):
                    by_id[mid] = item
                    await self._cache.remember(self._tenant.key("msg", mid), item, per_item, self._ttl.message)
            done += len(batch)
            if progress is not None:
                await progress(done, len(wanted))
        messages = []
        for mid in wanted:
            raw = by_id.get(mid)
            if raw is not None:
                messages.append(self._parse(Message, raw, f"message {mid}"))
        return messages

    async def get_message(self, message_id: str) -> Message:
        """One message by its id."""
        what = f"message {message_id}"
        missing = (
            f"No message with id {message_id} in {self._env}. Check the id: get_case_messages and search_messages "
            f"list message ids."
        )

        async def fetch() -> tuple[Any, int]:
            return await self._read_one(
                Message, "/api/v2/message/byMessageId", what=what, missing=missing, params={"messageId": message_id}
            )

        raw = await self._cache.get_or_fetch(self._tenant.key("msg", message_id), fetch, self._ttl.message)
        return self._parse(Message, raw, what)

    # Profiles

    async def get_profile(self, profile_id: str, *, fresh: bool = False) -> Profile:
        """One customer profile by its id."""
        what = f"profile {profile_id}"
        missing = (
            f"No profile with id {profile_id} in {self._env}. Check the id, or look the customer up by email, phone "
            f"or channel id."
        )

        async def fetch() -> tuple[Any, int]:
            return await self._read_one(Profile, f"/api/v2/profile/{profile_id}", what=what, missing=missing)

        raw = await self._cache.get_or_fetch(
            self._tenant.key("profile", profile_id), fetch, self._ttl.profile, fresh=fresh
        )
        return self._parse(Profile, raw, what)

    # Search

    async def search(self, entity: SearchEntity, body: dict[str, Any], *, fresh: bool = False) -> SearchPage:
        """The first page of a search; its results also warm the per-entity cache."""
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]

        async def fetch() -> tuple[Any, int]:
            payload, size = await self._call("POST", f"/api/v2/search/{entity}", what=f"{entity} search", body=body)
            return self._page_payload(payload, issued=time.time()), size

        raw = await self._cache.get_or_fetch(
            self._tenant.key("search", entity, digest), fetch, self._ttl.search, fresh=fresh
        )
        return await self._page(entity, raw)

    async def search_next(self, entity: SearchEntity, cursor: str) -> SearchPage:
        """The page after a cursor Sprinklr gave (valid for 5 minutes)."""

        async def fetch() -> tuple[Any, int]:
            payload, size = await self._call(
                "GET",
                f"/api/v2/search/{entity}",
                what=f"next {entity} search page",
                params={"id": cursor},
                priority=Priority.BULK,
            )
            return self._page_payload(payload, issued=time.time()), size

        key = self._tenant.key("search-next", entity, hashlib.sha256(cursor.encode()).hexdigest()[:32])
        raw = await self._cache.get_or_fetch(key, fetch, self._ttl.search)
        return await self._page(entity, raw)

    def _page_payload(self, payload: Any, issued: float) -> dict[str, Any]:
        data = unwrap(payload)
        if not isinstance(data, dict):
            raise Unavailable("Sprinklr's search answer was not understood (no result list). Try again.")
        results = [item for item in data.get("results") or [] if isinstance(item, dict)]
        cursor = data.get("cursor")
        # The reference shows the cursor as "id=xxx" while the paging call takes ?id=xxx.
        cursor = (cursor.removeprefix("id=") or None) if isinstance(cursor, str) else None
        total = data.get("totalCount")
        return {
            "results": results,
            "cursor": cursor,
            "total": total if isinstance(total, int) else None,
            "issued": issued,
        }

    async def _page(self, entity: SearchEntity, raw: dict[str, Any]) -> SearchPage:
        # Search results are whole entities: keep them so that opening one next costs no call.
        for item in raw["results"]:
            if entity == "CASE":
                await self._remember_case(item, 1024)
            elif entity == "MESSAGE" and isinstance(item.get("messageId"), str):
                await self._cache.remember(self._tenant.key("msg", item["messageId"]), item, 1024, self._ttl.message)
            elif entity == "PROFILE" and item.get("id") is not None:
                await self._cache.remember(self._tenant.key("profile", item["id"]), item, 1024, self._ttl.profile)
        return SearchPage(results=raw["results"], cursor=raw["cursor"], total=raw["total"], issued=raw["issued"])

    def _parse(self, model: type[M], raw: Any, what: str) -> M:
        """The wire model of a cached payload; parsed once per payload object (the memory cache returns the same)."""
        seen = self._parsed.get(id(raw))
        # The memo holds the payload itself, so its id cannot be reused by another object while the entry lives.
        if seen is not None and seen[0] is raw and isinstance(seen[1], model):
            return seen[1]
        try:
            parsed = model.model_validate(raw)
        except ValidationError:
            raise SprinklrError(
                f"Sprinklr's answer for {what} was missing its identifier or was malformed; it cannot be shown."
            ) from None
        self._parsed[id(raw)] = (raw, parsed)
        return parsed


def _message_time(message_id: str) -> str | None:
    """The channelCreatedTime part of a documented message id, used as the next associated-messages cursor."""
    parts = message_id_parts(message_id)
    return parts["time"] if parts else None
