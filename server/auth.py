"""Key and Bearer headers, and token refresh on a 401: single flight within a process and across processes.

Sprinklr keeps one access token per API key and a refresh token works once, so two processes that both refresh
lock each other out. The refreshed pair goes into the shared ledger; a process that meets a 401 first looks
there, and only refreshes (under the ledger's cross-process lock) when nobody has done so already.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager

import anyio
import httpx2 as httpx
from pydantic import SecretStr

from server.errors import AuthError, error_for, is_over_rate
from server.ledger import Ledger, TokenRecord
from server.scrub import Scrubber

log = logging.getLogger(__name__)


class SprinklrAuth(httpx.Auth):
    """Adds `Key` and `Authorization: Bearer`; on a 401, adopts or refreshes the token once and retries once."""

    requires_response_body = True

    def __init__(
        self,
        *,
        api_key: SecretStr,
        access_token: SecretStr,
        refresh_token: SecretStr | None,
        api_secret: SecretStr | None,
        token_url: str,
        ledger: Ledger,
        ledger_key: str,
        scrub: Scrubber,
    ) -> None:
        self._api_key = api_key
        self._token = TokenRecord(
            access_token=access_token.get_secret_value(),
            refresh_token=refresh_token.get_secret_value() if refresh_token else None,
            version=0,
            saved_at=0.0,
        )
        self._can_refresh = refresh_token is not None and api_secret is not None
        self._api_secret = api_secret
        self._token_url = token_url
        self._ledger = ledger
        self._ledger_key = ledger_key
        # Every token this object comes to hold is registered, so that no echo of it can be shown.
        self._scrub = scrub
        for secret in (api_key, access_token, refresh_token, api_secret):
            scrub.add(secret.get_secret_value() if secret is not None else None)
        self._lock = anyio.Lock()
        # Held from building the refresh request to storing its answer: one refresh at a time in this process.
        self._refresh_lock = anyio.Lock()
        self._lease: AbstractAsyncContextManager[None] | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return "SprinklrAuth(<credentials hidden>)"

    def _sign(self, request: httpx.Request) -> str:
        token = self._token.access_token
        request.headers["Key"] = self._api_key.get_secret_value()
        request.headers["Authorization"] = f"Bearer {token}"
        return token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Sign the request; on a 401, get a newer token (from the ledger or by refreshing) and retry once."""
        used = self._sign(request)
        response = yield request
        if response.status_code != 401:
            return
        refresh_request = await self._newer_token_or_refresh_request(used)
        if refresh_request is not None:
            try:
                refresh_response = yield refresh_request
                await self._accept_refresh(refresh_response)
            finally:
                # Also reached when the refresh request itself fails and httpx closes this flow.
                await self._release()
        self._sign(request)
        yield request

    async def _newer_token_or_refresh_request(self, used: str) -> httpx.Request | None:
        """Adopt a token another caller or process already refreshed; else build the refresh request (or give up)."""
        async with self._lock:
            if self._token.access_token != used:
                return None  # another task in this process refreshed while we waited
            shared = await self._ledger.get_token(self._ledger_key)
            if shared is not None and shared.access_token != used:
                self._adopt(shared)
                return None
            if not self._can_refresh:
                raise AuthError(
                    "Sprinklr refused the access token (401: expired or invalid) and no refresh is configured. "
                    "Set a fresh SPRINKLR_ACCESS_TOKEN, or set SPRINKLR_REFRESH_TOKEN and SPRINKLR_API_SECRET."
                )
        # Both locks are taken here; the auth flow releases them once the refresh request has been answered.
        await self._refresh_lock.acquire()
        try:
            self._lease = self._ledger.refresh_lock(self._ledger_key)
            await self._lease.__aenter__()
        except BaseException:
            self._lease = None
            self._refresh_lock.release()
            raise
        try:
            request = await self._refresh_request_unless_done(used)
        except BaseException:
            await self._release()
            raise
        if request is None:
            await self._release()
        return request

    async def _refresh_request_unless_done(self, used: str) -> httpx.Request | None:
        """Under the locks: None if someone already refreshed (the newer token is adopted), else the request."""
        if self._token.access_token != used:
            return None
        shared = await self._ledger.get_token(self._ledger_key)
        if shared is not None and shared.access_token != used:
            self._adopt(shared)
            return None
        refresh_token = (shared.refresh_token if shared else None) or self._token.refresh_token
        self._scrub.add(refresh_token)
        assert self._api_secret is not None
        assert refresh_token is not None
        return httpx.Request(
            "POST",
            self._token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self._api_key.get_secret_value(),
                "client_secret": self._api_secret.get_secret_value(),
            },
        )

    async def _accept_refresh(self, response: httpx.Response) -> None:
        """Store the refreshed token pair (the caller releases the locks, whatever happens here)."""
        if response.status_code >= 500 or is_over_rate(response):
            # An outage or the rate limit says nothing about the refresh token: nobody should be told to replace it.
            raise error_for(response, "a token refresh", "", self._scrub)
        if response.status_code != 200:
            raise AuthError(
                f"Sprinklr refused the token refresh ({response.status_code}). The refresh token may have been "
                f"used already or revoked: set fresh SPRINKLR_ACCESS_TOKEN and SPRINKLR_REFRESH_TOKEN."
            )
        try:
            payload = json.loads(response.content)
            access = payload["access_token"]
            refresh = payload.get("refresh_token")
        except (ValueError, KeyError, TypeError):
            raise AuthError("Sprinklr's token refresh answer was not understood; no new token was stored.") from None
        if not isinstance(access, str) or not access:
            raise AuthError("Sprinklr's token refresh answer held no access token; no new token was stored.")
        record = TokenRecord(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else self._token.refresh_token,
            version=self._token.version + 1,
            saved_at=time.time(),
        )
        self._scrub.add(record.access_token)
        self._scrub.add(record.refresh_token)
        await self._ledger.put_token(self._ledger_key, record)
        self._token = record
        self.refreshes += 1
        log.info("access token refreshed (version %d)", record.version)

    def _adopt(self, record: TokenRecord) -> None:
        """Use a token pair another process or task stored in the ledger."""
        self._scrub.add(record.access_token)
        self._scrub.add(record.refresh_token)
        self._token = record

    async def _release(self) -> None:
        """Give up the cross-process lease and the in-process lock; called once, by the task that took them."""
        lease, self._lease = self._lease, None
        try:
            if lease is not None:
                await lease.__aexit__(None, None, None)
        finally:
            self._refresh_lock.release()
