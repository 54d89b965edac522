"""The quota_status tool: the API budget and the cache, read locally at no upstream cost."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult
from pydantic import Field

from tools.common import deps, result
from tools.views import Page, View


class QuotaView(View):
    """Sprinklr API budget for this key, shared by every process and replica using the same ledger."""

    per_second_limit: int
    per_hour_limit: int
    used_this_second: int
    used_this_hour: int
    left_this_hour: int
    bulk_reserve: int = Field(description="Calls kept back from paging jobs for interactive use.")
    frees_up_at: str | None = Field(default=None, description="When the oldest call of the hour leaves the window.")
    paused: bool = Field(description="True while upstream calls are paused after a rate-limit answer.")
    paused_until: str | None = None
    pause_reason: str | None = None
    ledger: str = Field(description="Where the quota is shared: memory, file or redis.")
    ledger_path: str = Field(description="The ledger file, or the Redis server (no credentials), or this process.")
    degraded: bool = Field(
        default=False, description="True while the shared ledger fails: each process then keeps to the limits alone."
    )
    degraded_reason: str | None = None
    pauses_in_a_row: int | None = Field(
        default=None, description="Rate-limit pauses in a row with no call answered; each one twice as long."
    )


class CacheView(View):
    """The shared cache."""

    entries: int
    size_bytes: int
    max_entries: int | None = None
    max_bytes: int | None = None
    hits: int
    misses: int
    coalesced: int = Field(description="Calls served by another caller's in-flight request.")
    hit_ratio: float


class StatusView(Page):
    """Quota and cache status."""

    quota: QuotaView
    cache: CacheView
    upstream_calls: int = Field(description="Requests this process has sent to Sprinklr since it started.")


async def status_view(ctx: Context) -> StatusView:
    """The quota and cache status, read from the shared ledger and the cache (no upstream call)."""
    d = deps(ctx)
    status = await d.app.quota.status()
    stats = d.app.cache.stats()
    return StatusView(
        quota=QuotaView(
            per_second_limit=status.per_second,
            per_hour_limit=status.per_hour,
            used_this_second=status.used_last_second,
            used_this_hour=status.used_last_hour,
            left_this_hour=status.remaining_this_hour,
            bulk_reserve=status.bulk_reserve,
            frees_up_at=status.frees_at.strftime("%Y-%m-%dT%H:%M:%SZ") if status.frees_at else None,
            paused=status.tripped,
            paused_until=status.tripped_until.strftime("%Y-%m-%dT%H:%M:%SZ") if status.tripped_until else None,
            pause_reason=status.trip_reason,
            ledger=d.app.ledger_kind,
            ledger_path=status.ledger_location,
            degraded=status.degraded_reason is not None,
            degraded_reason=status.degraded_reason,
            pauses_in_a_row=status.pause_streak or None,
        ),
        cache=CacheView(
            entries=stats.entries,
            size_bytes=stats.bytes,
            max_entries=stats.max_entries,
            max_bytes=stats.max_bytes,
            hits=stats.hits,
            misses=stats.misses,
            coalesced=stats.coalesced,
            hit_ratio=round(stats.hit_ratio, 3),
        ),
        upstream_calls=d.client.upstream_calls,
    )


async def quota_status(ctx: Context) -> CallToolResult:
    """The Sprinklr API budget (used and left this second and hour, pauses) and the cache. Costs no API call."""
    view = await status_view(ctx)
    return result(view, "Sprinklr API budget and cache (no API call).", deps(ctx), untrusted=False)


STATUS_URI = "sprinklr://status/{section}"


async def status_resource(section: str, ctx: Context) -> str:
    """The quota, the cache, or both ('all') as JSON: the quota_status tool's structured content."""
    view = await status_view(ctx)
    if section == "quota":
        return view.quota.model_dump_json(indent=2)
    if section == "cache":
        return view.cache.model_dump_json(indent=2)
    if section == "all":
        return view.model_dump_json(indent=2)
    raise ResourceError(f"sprinklr://status/{{section}} takes quota, cache or all; got {section[:40]!r}.")
