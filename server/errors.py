"""The SprinklrError tree, and the one function that turns a Sprinklr response into an error.

Every message says what happened and what to do next. None carries a token, a full URL with its query
string, or upstream text that has not been examined: upstream text is reduced to a short, printable excerpt, and
the only way to one is through a Scrubber, so no secret an upstream echoes back can reach a message.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx2 as httpx

from server.scrub import Scrubber
from server.settings import default_api_root


class SprinklrError(Exception):
    """Base of every error this server reports about Sprinklr; its message is safe to show to a model."""

    retryable: bool = False


class NotFound(SprinklrError):
    """The thing asked for does not exist (404)."""


class BadRequest(SprinklrError):
    """Sprinklr refused the request as malformed (400); the message says what it objected to."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        # Sprinklr's own words (a safe excerpt), for the client to tell which part of a request was refused.
        self.detail = detail


class RateLimited(SprinklrError):
    """Sprinklr's rate limit (403 "Developer Over Rate" or 429), or our own quota guard, stopped the call."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidKey(SprinklrError):
    """The API key is not valid (403 "Developer Inactive", or another 403): not a rate limit."""


class WrongEnvironment(SprinklrError):
    """The API key belongs to another Sprinklr environment (421)."""


class AuthError(SprinklrError):
    """The access token was refused (401), after one refresh where refresh is configured."""


class Unavailable(SprinklrError):
    """Sprinklr failed or could not be reached (5xx, timeout, broken response), after retries."""

    retryable = True


class ReadOnlyViolation(SprinklrError):
    """Our own code tried a request that is not on the read-only allow-list; nothing was sent."""


_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
_TAGS = re.compile(r"<[^>]{0,200}>")


def excerpt(text: str, scrub: Scrubber, limit: int = 200) -> str:
    """A short, single-line, printable excerpt of upstream text, with markup and secrets removed."""
    # Scrubbed whole, before anything is cut: a secret cut in half would no longer match. Scrubbed again once the
    # markup is gone, since a tag between a header name and its value hides the value from the patterns.
    text = scrub(html.unescape(scrub(text)))
    text = " ".join(_PRINTABLE.sub(" ", _TAGS.sub(" ", text)).split())
    text = scrub(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def upstream_message(response: httpx.Response, scrub: Scrubber) -> str:
    """The error message Sprinklr gave, from any of its body shapes, as a scrubbed excerpt."""
    body = response.text
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return excerpt(body, scrub)
    messages: list[str] = []
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, dict) and isinstance(item.get("message"), str):
                    messages.append(item["message"])
                elif isinstance(item, str):
                    messages.append(item)
        for key in ("message", "error_description", "error"):
            if isinstance(payload.get(key), str):
                messages.append(payload[key])
    # Re-serialised rather than the body as sent: JSON may escape a secret ("\\/" for "/") so that it no longer matches.
    return excerpt("; ".join(messages) if messages else json.dumps(payload, ensure_ascii=False), scrub)


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header given in seconds, or None."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 24 * 3600 else None


def is_over_rate(response: httpx.Response) -> bool:
    """True when a response is Sprinklr's rate-limit refusal (403 "Developer Over Rate", or 429)."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    code = response.headers.get("x-mashery-error-code", "")
    return "OVER_RATE" in code.upper() or "over rate" in response.text[:2000].lower()


def _api_root_of(response: httpx.Response) -> str | None:
    """Scheme, host and path prefix (before /api/ or /oauth/) of the request that got this response; no query."""
    try:
        url = response.request.url
    except RuntimeError:  # a response built without a request
        return None
    path = re.split(r"/(?:api|oauth)/", url.path, maxsplit=1)[0]
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{path}"


def error_for(response: httpx.Response, what: str, env: str, scrub: Scrubber) -> SprinklrError:
    """Map a non-2xx Sprinklr response to the error a model can act on; upstream words pass through `scrub`."""
    status = response.status_code
    if is_over_rate(response):
        retry_after = parse_retry_after(response)
        wait = f" Try again in {retry_after:.0f} s." if retry_after is not None else " Try again later."
        return RateLimited(
            f"Sprinklr's rate limit for this API key was reached (it allows 10 calls a second and 1,000 an hour); "
            f"upstream calls are paused.{wait} Cached results still work.",
            retry_after,
        )
    if status == 401:
        return AuthError(
            "Sprinklr refused the access token (401: expired or invalid). Set a fresh SPRINKLR_ACCESS_TOKEN, or "
            "set SPRINKLR_REFRESH_TOKEN and SPRINKLR_API_SECRET so the server can refresh it."
        )
    if status == 403:
        detail = upstream_message(response, scrub)
        if "inactive" in detail.lower() or "INACTIVE" in response.headers.get("x-mashery-error-code", "").upper():
            return InvalidKey(
                f"Sprinklr says the API key is not valid ('Developer Inactive') for environment {env}. This is not a "
                f"rate limit: check SPRINKLR_API_KEY and that the key is active."
            )
        return InvalidKey(
            f"Sprinklr refused access to {what} (403: {detail or 'forbidden'}). The API key or user may lack the "
            f"permission for this read."
        )
    if status == 421:
        root = _api_root_of(response)
        custom = root is not None and root != default_api_root(env)
        if custom and env != "prod" and not (root or "").endswith(f"/{env}"):
            # SPRINKLR_BASE_URL is set, and the usual slip is leaving the environment off its path.
            return WrongEnvironment(
                f"Sprinklr answered 421 (wrong environment) at {root}. SPRINKLR_BASE_URL is set: its path should end "
                f"with the environment, /{env} (as in {default_api_root(env)}). Fix SPRINKLR_BASE_URL, or unset it."
            )
        also = " (and the environment at the end of SPRINKLR_BASE_URL)" if custom else ""
        return WrongEnvironment(
            f"Sprinklr says this API key belongs to another environment than {env} (421). Set SPRINKLR_ENV{also} to "
            f"the environment the key was issued for."
        )
    if status == 404:
        return NotFound(f"No {what} in {env}.")
    if status == 400:
        detail = upstream_message(response, scrub)
        return BadRequest(f"Sprinklr rejected the request for {what} (400): {detail or 'bad request'}.", detail)
    if status >= 500:
        return Unavailable(
            f"Sprinklr answered {status} (a server error) for {what}, after retries. Try again in a minute."
        )
    return SprinklrError(f"Sprinklr answered {status} for {what}: {upstream_message(response, scrub) or 'no detail'}.")
