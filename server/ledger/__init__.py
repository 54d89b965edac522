"""Where quota hits, pauses and tokens live: in memory, in an SQLite file shared by processes, or in Redis.

Every process that uses one Sprinklr API key must draw on one budget (an MCP host starts a stdio server per client),
so the budget lives here and not in the guard. `key` is always the tenant id (a hash that includes the API key's
hash), never the key itself, and token values are never logged. The shared stores are wrapped in FallbackLedger,
so that a store that fails costs sharing, never a tool call.

    base.py      the Ledger protocol, its records, and the decisions every store makes the same way
    memory.py    MemoryLedger: this process only
    file.py      FileLedger: one SQLite file per user, robust to deletion and corruption
    redis.py     RedisLedger: shared by replicas, on the Redis server's clock
    fallback.py  FallbackLedger: the shared ledger, or this process's while it fails
"""

from server.ledger.base import HOUR, MIN_WAIT, NO_TRIP, PROBE_LEASE, Ledger, TokenRecord, Trip, Usage, ledger_faults
from server.ledger.fallback import FallbackLedger, describe_fault
from server.ledger.file import FileLedger, default_ledger_path
from server.ledger.memory import MemoryLedger
from server.ledger.redis import RedisLedger, check_redis_url, redis_location

__all__ = [
    "HOUR",
    "MIN_WAIT",
    "NO_TRIP",
    "PROBE_LEASE",
    "FallbackLedger",
    "FileLedger",
    "Ledger",
    "MemoryLedger",
    "RedisLedger",
    "TokenRecord",
    "Trip",
    "Usage",
    "check_redis_url",
    "default_ledger_path",
    "describe_fault",
    "ledger_faults",
    "redis_location",
]
