"""The runtime behind the tools, with no MCP in it: the one HTTP client, cache, quota guard and ledger of a server.

`open_app(settings)` builds them all in the order a request passes through them and closes them on exit; the MCP
lifespan (server/app.py), the CLI's `check` and the tests use it alike.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx

from server.archive.config import archive_path
from server.archive.store import ArchiveStore
from server.auth import SprinklrAuth
from server.cache import IN_MEMORY_FACTOR, Cache, CacheBackend, MemoryBackend, RedisBackend
from server.findings import FindingsStore
from server.guard import ReadOnlyGuard, ReadOnlyTransport
from server.ledger import FallbackLedger, FileLedger, Ledger, MemoryLedger, RedisLedger, default_ledger_path
from server.quota import QuotaGuard
from server.record import RecordingTransport
from server.scrub import Scrubber
from server.settings import Settings
from server.sprinklr import SprinklrClient
from server.tenant import Tenant
from server.transport import QuotaTransport

log = logging.getLogger(__name__)


def tenant_of(settings: Settings) -> Tenant:
    """Whose data this server reads: environment, API root and a hash of the API key."""
    return Tenant.of(settings.env, settings.api_root, settings.api_key.get_secret_value())


@dataclass
class AppContext:
    """The shared objects of one running server."""

    settings: Settings
    client: SprinklrClient
    cache: Cache
    quota: QuotaGuard
    ledger: Ledger
    ledger_kind: str
    http: httpx.AsyncClient
    tenant: Tenant
    scrub: Scrubber
    # The Sparkcentral archive, when SPARKCENTRAL_EXPORT_DIR or SPARKCENTRAL_SFTP_URL is set (read-only here).
    archive: ArchiveStore | None = None


def findings_path(settings: Settings, tenant: Tenant) -> Path | None:
    """Where what was found out about this account is kept: beside the ledger file (None with an in-memory ledger)."""
    if settings.ledger_path == ":memory:":
        return None
    folder = Path(settings.ledger_path).parent if settings.ledger_path else default_ledger_path().parent
    return folder / f"findings-{tenant.id}.json"


def make_ledger(settings: Settings, clock: Callable[[], float] = time.time) -> tuple[Ledger, str]:
    """Redis when configured (shared by replicas), else a file in the user's cache dir (shared by processes).

    A shared ledger comes wrapped in FallbackLedger: while it fails, this process keeps to the limits on its own.
    """
    if settings.redis_url:
        return FallbackLedger(RedisLedger(settings.redis_url), clock=clock), "redis"
    if settings.ledger_path == ":memory:":
        return MemoryLedger(), "memory"
    file = FileLedger(settings.ledger_path) if settings.ledger_path else FileLedger()
    return FallbackLedger(file, clock=clock), "file"


def make_cache(settings: Settings) -> Cache:
    """The shared cache: in Redis when configured, else in memory within the configured bounds."""
    backend: CacheBackend
    if settings.redis_url:
        backend = RedisBackend(settings.redis_url)
    else:
        backend = MemoryBackend(
            max_entries=settings.cache_max_entries,
            max_bytes=settings.cache_max_mb * 1024 * 1024,
            size_factor=IN_MEMORY_FACTOR,  # the client gives JSON sizes; the bound is on memory
        )
    return Cache(backend)


def _proxy_for(url: str) -> str | None:
    """The proxy the standard environment variables name for this URL (HTTPS_PROXY, NO_PROXY, ...), if any."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


def make_http(
    settings: Settings,
    quota: QuotaGuard,
    ledger: Ledger,
    key: str,
    scrub: Scrubber,
    inner: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one HTTP client: auth on top, then the read-only guard, then the quota, then the network."""
    root = settings.api_root
    if inner is None:
        # Proxies are resolved here and the client gets trust_env=False: environment proxy mounts would otherwise
        # route requests around the guard and quota transports. SSL_CERT_FILE is still honoured by the transport.
        inner = httpx.AsyncHTTPTransport(proxy=_proxy_for(root), trust_env=True, retries=0)
    if settings.record_dir:
        # Innermost, so that every attempt that reaches the network is recorded, retries and refreshes too.
        inner = RecordingTransport(inner, Path(settings.record_dir).expanduser(), root, scrub)
    transport = ReadOnlyTransport(QuotaTransport(inner, quota), ReadOnlyGuard(root))
    auth = SprinklrAuth(
        api_key=settings.api_key,
        access_token=settings.access_token,
        refresh_token=settings.refresh_token,
        api_secret=settings.api_secret,
        token_url=f"{root}/oauth/token",
        ledger=ledger,
        ledger_key=key,
        scrub=scrub,
    )
    return httpx.AsyncClient(
        base_url=root,
        auth=auth,
        transport=transport,
        trust_env=False,
        timeout=httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)),
        headers={"Accept": "application/json", "User-Agent": "sprinklr-mcp/0.1 (read-only)"},
        follow_redirects=False,
    )


@asynccontextmanager
async def open_app(
    settings: Settings,
    inner: httpx.AsyncBaseTransport | None = None,
    scrub: Scrubber | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[AppContext]:
    """Create the shared client, cache, quota and ledger, and close them all on exit; `clock` is the quota's.

    `scrub` is the server's scrubber, shared with its log filter; tokens refreshed later are registered in it.
    """
    scrub = scrub if scrub is not None else Scrubber.from_settings(settings)
    ledger, kind = make_ledger(settings, clock)
    tenant = tenant_of(settings)
    key = tenant.id
    quota = QuotaGuard(
        ledger,
        key,
        per_second=settings.rate_per_second,
        per_hour=settings.rate_per_hour,
        bulk_reserve=min(settings.bulk_reserve, settings.rate_per_hour // 2),
        max_wait=settings.max_wait_seconds,
        # A call counts as reaching Sprinklr at any moment until its answer is back (or a timeout has surely passed):
        # a request slow to leave a busy process can no longer land in the next second's window.
        in_flight=settings.timeout_seconds + 10,
        clock=clock,
    )
    cache = make_cache(settings)
    http = make_http(settings, quota, ledger, key, scrub, inner)
    findings = FindingsStore(findings_path(settings, tenant))
    client = SprinklrClient(http, cache, tenant=tenant, scrub=scrub, findings=findings)
    archive = ArchiveStore(archive_path(settings)) if settings.archive_configured else None
    try:
        yield AppContext(settings, client, cache, quota, ledger, kind, http, tenant, scrub, archive)
    finally:
        if archive is not None:
            archive.close()
        await http.aclose()
        await cache.aclose()
        await ledger.aclose()
