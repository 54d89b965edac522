"""Secrets scrubbed from every text that came from upstream before anyone sees it: errors, `check`, logs.

An upstream, a proxy or a misconfigured gateway may echo the request back, headers and all. The Scrubber removes
every configured secret (and every token obtained later, once registered) by exact match, and anything shaped like
a credential (an `Authorization:` or `Key:` header value, `Bearer <token>`, `access_token=...`, a URL's password) by
pattern, so a secret we were never told about is caught too when it comes in a recognisable shape.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Iterable
from urllib.parse import urlsplit

from server.settings import Settings

REDACTED = "[redacted]"

# A value already redacted counts as one token, so scrubbing twice changes nothing.
_VALUE = r"(?:\[redacted\]|[^\s\"'&,;<>(){}\[\]]+)"
# Header, form and query names whose values are credentials, then ":" or "=" (quoted as JSON or a Python repr may).
_NAMED = re.compile(
    r"(?i)(?P<name>\b(?:proxy-)?authorization|\bx-api-key|\bapi[-_]?key|\bkey|\bx-auth-token|\b(?:set-)?cookie"
    r"|\baccess[-_]token|\brefresh[-_]token|\bid[-_]token|\bclient[-_]secret|\bclient[-_]id|\bapi[-_]secret"
    r"|\bpassword|\bsecret|\btoken)"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<scheme>(?:bearer|basic|token|digest)\s+)?" + _VALUE
)
# Free-standing credentials; at least 6 characters, so that English ("the bearer of", "basic use") is left alone.
_SCHEME = re.compile(r"\b(?P<scheme>(?i:bearer)|Basic)\s+(?!\[redacted\])[A-Za-z0-9\-._~+/]{6,}=*")
# scheme://user:password@host
_USERINFO = re.compile(r"(?i)(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")


def _named(match: re.Match[str]) -> str:
    return f"{match['name']}{match['sep']}{match['scheme'] or ''}{REDACTED}"


class Scrubber:
    """Replaces registered secrets and credential-shaped text with [redacted]; new secrets can be added at run time."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._exact: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> Scrubber:
        """Every secret the settings hold: API key, tokens, API secret, HTTP bearer token and the Redis password."""
        secrets: list[str | None] = list(settings.secrets())
        if settings.redis_url:
            # A malformed URL is refused elsewhere, with its own message; its password is still hidden by pattern.
            with contextlib.suppress(ValueError):
                secrets.append(urlsplit(settings.redis_url).password)
        return cls(secrets)

    def add(self, secret: str | None) -> None:
        """Register one more secret (e.g. a refreshed token); blank values are ignored."""
        if not secret or not secret.strip():
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            # Longest first, so a secret that contains another is removed whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._exact = re.compile("|".join(re.escape(value) for value in ordered))

    def __call__(self, text: str) -> str:
        """The text without any registered secret or credential-shaped value."""
        exact = self._exact
        if exact is not None:
            # Known secrets first: a pattern could stop inside one (at a comma, say) and leave its tail behind.
            text = exact.sub(REDACTED, text)
        text = _NAMED.sub(_named, text)
        text = _SCHEME.sub(lambda match: f"{match['scheme']} {REDACTED}", text)
        return _USERINFO.sub(lambda match: f"{match['head']}{REDACTED}@", text)

    def __repr__(self) -> str:
        return f"Scrubber(<{len(self._secrets)} secrets hidden>)"


class ScrubLogs(logging.Filter):
    """A handler filter that scrubs each record's message, arguments, traceback and stack with every live Scrubber.

    One instance per process serves every server built in it; scrubbers are held weakly, so a server that is gone
    takes its secrets with it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._scrubbers: weakref.WeakSet[Scrubber] = weakref.WeakSet()

    def watch(self, scrubber: Scrubber) -> None:
        """Apply this scrubber too from now on."""
        self._scrubbers.add(scrubber)

    def _scrub(self, text: str) -> str:
        for scrubber in list(self._scrubbers):
            text = scrubber(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (message rendered with its arguments) and let it through."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} {record.args!r}"  # arguments that do not fit the format: show both, scrubbed
        record.msg, record.args = self._scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
            # The formatter would render the traceback again from exc_info: only the scrubbed text may be used.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True


_LOG_FILTER = ScrubLogs()


def scrub_logs(scrubber: Scrubber) -> None:
    """Scrub every record that reaches the root logger's handlers with this scrubber (idempotent per handler)."""
    _LOG_FILTER.watch(scrubber)
    for handler in logging.getLogger().handlers:
        if _LOG_FILTER not in handler.filters:
            handler.addFilter(_LOG_FILTER)
