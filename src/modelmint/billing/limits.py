"""Rate limits (requests/s with a burst, per API key and per tenant) and concurrency limits (calls
in flight per tenant), exact across server processes.

Three backends behind one small interface, chosen by ``MODELMINT_RATE_LIMIT_BACKEND``:

* ``redis``: one Lua script per check, so the read-modify-write is atomic on the Redis server
  whatever the number of API processes or hosts;
* ``database``: the same token bucket as a conditional UPDATE in the shared database (exact, at
  the cost of one write per limited call);
* ``memory``: per process (exact with one process; N processes allow N times the limit).

``auto`` picks redis when ``MODELMINT_REDIS_URL`` is set, the database when ``modelmint serve``
runs several processes, memory otherwise. If Redis fails, ``MODELMINT_RATE_LIMIT_ON_REDIS_ERROR``
says what happens: ``local`` (default) falls back to per-process buckets until Redis answers,
``closed`` refuses calls with 503. Quotas and budgets never depend on this: they are enforced in
the database in the metering transaction.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from modelmint.errors import ConfigError, RateLimited, ServiceUnavailable
from modelmint.store import Store

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # a call in flight longer than this (a crashed process) stops counting


class Backend(Protocol):
    name: str

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        """Take one token; 0.0 if taken, else the seconds until one is there."""
        ...

    def enter(self, bucket: str, lease: str, limit: int, now: float) -> bool:
        """Count a call in flight unless `limit` are already; False if refused."""
        ...

    def leave(self, bucket: str, lease: str) -> None: ...


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        with self._lock:
            tokens, last = self._buckets.get(bucket, (cap, now))
            tokens = min(cap, tokens + max(0.0, now - last) * rate)
            if tokens < 1.0:
                self._buckets[bucket] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[bucket] = (tokens - 1.0, now)
            return 0.0

    def enter(self, bucket: str, lease: str, limit: int, now: float) -> bool:
        with self._lock:
            live = {k: v for k, v in self._leases.get(bucket, {}).items() if v > now}
            if len(live) >= limit:
                self._leases[bucket] = live
                return False
            live[lease] = now + LEASE_SECONDS
            self._leases[bucket] = live
            return True

    def leave(self, bucket: str, lease: str) -> None:
        with self._lock:
            self._leases.get(bucket, {}).pop(lease, None)


class DatabaseBackend:
    name = "database"

    def __init__(self, store: Store) -> None:
        self.store = store

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        return self.store.limits.take(bucket, rate, cap, now)

    def enter(self, bucket: str, lease: str, limit: int, now: float) -> bool:
        return self.store.limits.enter(bucket, lease, limit, now, now + LEASE_SECONDS)

    def leave(self, bucket: str, lease: str) -> None:
        self.store.limits.leave(lease)


# KEYS[1] bucket; ARGV rate, cap, now -> 0 when a token was taken, else seconds to wait
_TAKE = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local rate, cap, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(state[1]) or cap
local at = tonumber(state[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return tostring(wait)
"""
# KEYS[1] lease set; ARGV lease, limit, now, expires -> 1 entered, 0 refused
_ENTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4]) - tonumber(ARGV[3])) + 60)
return 1
"""


class RedisBackend:
    """Atomic Lua scripts on one Redis; on a Redis error, the `on_error` policy."""

    name = "redis"

    def __init__(self, url: str, on_error: str, prefix: str = "modelmint:limits:") -> None:
        import redis

        self._url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._take = self._redis.register_script(_TAKE)
        self._enter = self._redis.register_script(_ENTER)
        self._aio: dict[int, tuple[Any, Any, Any]] = {}  # per event loop: client, scripts
        self._errors = (redis.RedisError, OSError)
        self.on_error = on_error
        self.prefix = prefix
        self.local = MemoryBackend()
        self._warned = 0.0

    def _fallback(self, exc: Exception) -> MemoryBackend:
        if self.on_error == "closed":
            raise ServiceUnavailable(
                "the rate limiter (Redis) is not reachable and the server is set to refuse calls "
                "then (MODELMINT_RATE_LIMIT_ON_REDIS_ERROR=closed); retry shortly"
            ) from exc
        if time.monotonic() - self._warned > 30:
            self._warned = time.monotonic()
            logger.warning(
                "Redis unreachable (%s); rate limits are per process until it is back", exc
            )
        return self.local

    def take(self, bucket: str, rate: float, cap: float, now: float) -> float:
        try:
            return float(self._take(keys=[self.prefix + bucket], args=[rate, cap, now]))
        except self._errors as exc:
            return self._fallback(exc).take(bucket, rate, cap, now)

    def enter(self, bucket: str, lease: str, limit: int, now: float) -> bool:
        try:
            key = self.prefix + "inflight:" + bucket
            return bool(self._enter(keys=[key], args=[lease, limit, now, now + LEASE_SECONDS]))
        except self._errors as exc:
            return self._fallback(exc).enter(bucket, lease, limit, now)

    def leave(self, bucket: str, lease: str) -> None:
        try:
            self._redis.zrem(self.prefix + "inflight:" + bucket, lease)
        except self._errors:
            self.local.leave(bucket, lease)

    # the same on the server's event loop (redis.asyncio): no thread hop per call
    def _async_client(self) -> tuple[Any, Any, Any]:
        loop = id(asyncio.get_running_loop())
        if loop not in self._aio:
            import redis.asyncio as aioredis

            r = aioredis.Redis.from_url(self._url, socket_timeout=0.5, socket_connect_timeout=0.5)
            self._aio[loop] = (r, r.register_script(_TAKE), r.register_script(_ENTER))
        return self._aio[loop]

    async def take_async(self, bucket: str, rate: float, cap: float, now: float) -> float:
        try:
            _, take, _ = self._async_client()
            return float(await take(keys=[self.prefix + bucket], args=[rate, cap, now]))
        except self._errors as exc:
            return self._fallback(exc).take(bucket, rate, cap, now)

    async def enter_async(self, bucket: str, lease: str, limit: int, now: float) -> bool:
        try:
            _, _, enter = self._async_client()
            key = self.prefix + "inflight:" + bucket
            return bool(await enter(keys=[key], args=[lease, limit, now, now + LEASE_SECONDS]))
        except self._errors as exc:
            return self._fallback(exc).enter(bucket, lease, limit, now)

    async def leave_async(self, bucket: str, lease: str) -> None:
        try:
            r, _, _ = self._async_client()
            await r.zrem(self.prefix + "inflight:" + bucket, lease)
        except self._errors:
            self.local.leave(bucket, lease)


@dataclass
class Lease:
    bucket: str
    lease: str


class Limits:
    """What a call must pass before any work: the key's rate, the tenant's rate, the tenant's
    calls in flight. Raises RateLimited naming the limit (``rate``, ``tenant_rate``,
    ``concurrency``) with Retry-After. `acquire` blocks on the backend; `acquire_async` runs on
    the event loop for Redis (redis.asyncio) and memory, and blocks like `acquire` for the
    database backend (the server checks `is_async` and runs that one in a thread)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def is_async(self) -> bool:
        """Whether `acquire_async`/`release_async` need no thread for this backend."""
        return self.backend.name in ("memory", "redis")

    def acquire(self, caller: Any, request_id: str) -> Lease | None:
        now = time.time()
        for bucket, rate, cap, error in _buckets(caller):
            wait = self.backend.take(bucket, rate, cap, now)
            if wait > 0:
                raise error(wait)
        if caller.max_concurrent:
            bucket = f"tenant:{caller.tenant_id}"
            if not self.backend.enter(bucket, request_id, caller.max_concurrent, now):
                raise _concurrency_error(caller)
            return Lease(bucket, request_id)
        return None

    async def acquire_async(self, caller: Any, request_id: str) -> Lease | None:
        b = self.backend
        if not isinstance(b, RedisBackend):
            return self.acquire(caller, request_id)  # memory: no I/O
        now = time.time()
        for bucket, rate, cap, error in _buckets(caller):
            wait = await b.take_async(bucket, rate, cap, now)
            if wait > 0:
                raise error(wait)
        if caller.max_concurrent:
            bucket = f"tenant:{caller.tenant_id}"
            if not await b.enter_async(bucket, request_id, caller.max_concurrent, now):
                raise _concurrency_error(caller)
            return Lease(bucket, request_id)
        return None

    def release(self, lease: Lease | None) -> None:
        if lease is not None:
            self.backend.leave(lease.bucket, lease.lease)

    async def release_async(self, lease: Lease | None) -> None:
        if lease is None:
            return
        if isinstance(self.backend, RedisBackend):
            await self.backend.leave_async(lease.bucket, lease.lease)
        else:
            self.release(lease)


def _buckets(caller: Any) -> list[tuple[str, float, float, Any]]:
    """(bucket, rate, burst, error for a wait) of the caller's rate limits."""
    out = []
    if caller.rate_limit_rps:
        rps = caller.rate_limit_rps
        cap = float(caller.burst or max(1, round(rps)))
        out.append(
            (
                f"key:{caller.key_id}",
                rps,
                cap,
                lambda wait, rps=rps, cap=cap: RateLimited(
                    f"rate limit of {rps:g} requests/s (burst {cap:g}) exceeded for this key; "
                    f"retry after {wait:.2f}s or move to a plan with a higher limit",
                    retry_after=math.ceil(wait),
                    limit="rate",
                ),
            )
        )
    if caller.tenant_rate_limit_rps:
        rps = caller.tenant_rate_limit_rps
        out.append(
            (
                f"tenant:{caller.tenant_id}",
                rps,
                float(max(1, round(rps))),
                lambda wait, rps=rps: RateLimited(
                    f"tenant '{caller.tenant}' is over its rate limit of {rps:g} requests/s "
                    f"across all its keys; retry after {wait:.2f}s",
                    retry_after=math.ceil(wait),
                    limit="tenant_rate",
                ),
            )
        )
    return out


def _concurrency_error(caller: Any) -> RateLimited:
    return RateLimited(
        f"tenant '{caller.tenant}' already has {caller.max_concurrent} calls in flight, its "
        "plan's limit; retry when one has finished",
        retry_after=1,
        limit="concurrency",
    )


def limits_for(store: Store, *, backend: str, redis_url: str | None, on_error: str) -> Limits:
    """The backend the settings ask for (see the module docstring)."""
    if backend == "auto":
        backend = "redis" if redis_url else "memory"
    if backend == "redis":
        if not redis_url:
            raise ConfigError(
                "MODELMINT_RATE_LIMIT_BACKEND=redis needs MODELMINT_REDIS_URL, e.g. "
                "redis://127.0.0.1:6379/0"
            )
        return Limits(RedisBackend(redis_url, on_error))
    if backend == "database":
        return Limits(DatabaseBackend(store))
    return Limits(MemoryBackend())
