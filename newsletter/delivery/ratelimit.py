"""Send-rate limiting shared by every worker: a global cap and an optional per-domain cap.

Contract: ``limiter.acquire(domain)`` blocks until one message to ``domain`` may go, then
returns; call it once before each message. ``rate`` is messages per second across ALL worker
processes (Celery's own ``rate_limit`` is per worker), ``domain_rate`` messages per second per
recipient domain (lower-cased; a full address is accepted and cut at the last ``@``). ``None``
means no limit of that kind. ``burst`` messages may go back to back after an idle period.
``close()`` releases the connection. If Redis cannot be reached ``acquire`` raises
``redis.exceptions.ConnectionError``: it never silently stops limiting.

Why GCRA: the generic cell rate algorithm keeps one number per key, the theoretical arrival
time (TAT) of the next message, so a check is one GET and one SET, needs no per-message log
and no background refill, and answers "how long to wait" exactly. Both caps are checked and
recorded in one Lua script, hence atomically: a message refused by its domain cap consumes no
global permit. Why Redis TIME: every worker host reads the same clock (the Redis server's), so
clock skew between hosts cannot let one worker run ahead of the others.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

MAX_SLEEP = 1.0  # seconds per sleep, so that a pause check elsewhere is never starved

# KEYS: global TAT key, domain TAT key. ARGV: global and domain emission intervals in
# microseconds (0 = no limit), burst, and "now" in microseconds ('' = Redis server TIME).
# Returns 0 and records both new TATs when allowed, else the milliseconds to wait (no writes).
_GCRA_LUA = """
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local burst = tonumber(ARGV[3])
local wait = 0
local tats = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[i])
  if interval > 0 then
    local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or 0), now) + interval
    tats[i] = tat
    wait = math.max(wait, tat - burst * interval - now)
  end
end
if wait > 0 then
  return math.ceil(wait / 1000)
end
for i, tat in pairs(tats) do
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return 0
"""


class RateLimiter(Protocol):
    def acquire(self, domain: str) -> None: ...  # blocks until one message to `domain` may go
    def close(self) -> None: ...


class NoLimit:
    """No limit at all: ``acquire`` returns at once."""

    def acquire(self, domain: str) -> None:
        return None

    def close(self) -> None:
        return None


def _interval_us(rate: float | None) -> float:
    if rate is None:
        return 0.0
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"rate must be a positive number of messages per second, got {rate!r}")
    return 1_000_000 / rate


def _domain(domain: str) -> str:
    return domain.rsplit("@", 1)[-1].strip().lower()


class _Limiter:
    """The acquire loop: ask ``_attempt`` for a wait in ms, sleep it (capped), retry."""

    def __init__(self, rate: float | None, domain_rate: float | None, burst: int) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._intervals = (_interval_us(rate), _interval_us(domain_rate))
        self._burst = burst
        self._sleep: Callable[[float], None] = time.sleep

    def _attempt(self, domain: str) -> int:
        raise NotImplementedError

    def acquire(self, domain: str) -> None:
        domain = _domain(domain)
        while (wait_ms := self._attempt(domain)) > 0:
            self._sleep(min(wait_ms / 1000, MAX_SLEEP))


class RedisRateLimiter(_Limiter):
    """The limits hold across every process using the same Redis and ``key``.

    Keys: ``{key}:global`` and ``{key}:domain:{domain}``, each expiring once idle. ``clock``
    (seconds) replaces the Redis server time; it exists for deterministic tests only.
    """

    def __init__(
        self,
        redis_url: str,
        rate: float | None,
        domain_rate: float | None = None,
        *,
        key: str = "newsletter:rate",
        burst: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(rate, domain_rate, burst)
        self._sleep = sleep
        self._clock = clock
        self._key = key
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
        self._script = self._client.register_script(_GCRA_LUA)  # EVALSHA, loads on NOSCRIPT

    def _attempt(self, domain: str) -> int:
        now = "" if self._clock is None else f"{self._clock() * 1e6:.0f}"
        keys = [f"{self._key}:global", f"{self._key}:domain:{domain}"]
        args = [repr(self._intervals[0]), repr(self._intervals[1]), str(self._burst), now]
        return int(self._script(keys=keys, args=args))

    def close(self) -> None:
        self._client.close()


class LocalRateLimiter(_Limiter):
    """The same limits and arithmetic as ``RedisRateLimiter``, for one process (thread-safe)."""

    def __init__(
        self,
        rate: float | None,
        domain_rate: float | None = None,
        *,
        burst: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rate, domain_rate, burst)
        self._sleep = sleep
        self._clock = clock
        self._tats: dict[str, float] = {}  # key -> theoretical arrival time in microseconds
        self._lock = threading.Lock()

    def _attempt(self, domain: str) -> int:
        with self._lock:
            now = float(round(self._clock() * 1e6))
            wait, tats = 0.0, {}
            for key, interval in zip(("global", f"domain:{domain}"), self._intervals, strict=True):
                if interval > 0:
                    tats[key] = tat = max(self._tats.get(key, now), now) + interval
                    wait = max(wait, tat - self._burst * interval - now)
            if wait > 0:
                return math.ceil(wait / 1000)
            self._tats.update(tats)
            if len(self._tats) > 10_000:  # forget idle domains, as the Redis keys expire
                self._tats = {k: t for k, t in self._tats.items() if t > now}
            return 0

    def close(self) -> None:
        return None


def make_limiter(
    redis_url: str | None, rate: float | None, domain_rate: float | None
) -> RateLimiter:
    """``NoLimit`` when both rates are None; in-process limiting when there is no Redis (the
    embedded single-process mode: no URL or ``memory://``); else the shared Redis limiter.
    Another broker scheme (amqp://) is refused: a local limiter would not hold across workers."""
    if rate is None and domain_rate is None:
        return NoLimit()
    if not redis_url or redis_url.startswith("memory://"):
        return LocalRateLimiter(rate, domain_rate)
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        scheme = redis_url.partition(":")[0]  # never echo the URL: it may hold a password
        raise ValueError(f"a shared send-rate limit needs a redis:// URL, got {scheme}://")
    return RedisRateLimiter(redis_url, rate, domain_rate)
