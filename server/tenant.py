"""Tenant identity: whose Sprinklr data a cache entry, ledger row, lock or file belongs to.

Everything this server shares (the cache in memory or Redis, the quota ledger, token records, probe findings,
archive indexes) is namespaced by a Tenant: the environment, the API root and a one-way hash of the API key. Two
servers with the same key and environment share; anything else shares nothing. The key itself is never stored.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tenant:
    """One Sprinklr account as this server reaches it: environment, API root, and a hash of the API key."""

    env: str
    api_root: str
    key_hash: str

    @classmethod
    def of(cls, env: str, api_root: str, api_key: str) -> Tenant:
        """The tenant for these settings; only a SHA-256 digest of the key is kept."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:32]
        return cls(env=env, api_root=api_root.rstrip("/"), key_hash=digest)

    @property
    def id(self) -> str:
        """An opaque, stable name for this tenant, safe to write to disk, logs and Redis key names."""
        return _tenant_id(self.env, self.api_root, self.key_hash)

    def key(self, kind: str, *parts: str | int) -> CacheKey:
        """The cache key of one kind of entry (e.g. 'case-n', 48213) in this tenant's namespace."""
        return CacheKey(self.id, kind, tuple(str(part) for part in parts))


@functools.lru_cache(maxsize=64)
def _tenant_id(env: str, api_root: str, key_hash: str) -> str:
    # Made on every cache key: hashed once per tenant, not once per key.
    return hashlib.sha256(f"{env}\n{api_root}\n{key_hash}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class CacheKey:
    """A cache key; made only by Tenant.key, so no entry can be stored or found outside its tenant."""

    tenant_id: str
    kind: str
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.tenant_id, self.kind, *self.parts))
