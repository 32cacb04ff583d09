"""Is the Redis that carries our work set up to keep it? Asked once, when a worker starts.

The broker's queue lives in Redis. With ``appendonly no`` a restart of Redis loses the batches
queued since its last snapshot; with a ``maxmemory-policy`` other than ``noeviction``, a Redis
short of memory evicts keys: the queue's (batches lost) or the shared send rate's (a burst over
``NEWSLETTER_SEND_RATE``). Neither loses a recipient, since the rows are in the database and an
idle worker or the minute tick queues them again (README, "Exactly once"), but a send can stall
for minutes. So the worker says so in its log, one warning per wrong value. A managed Redis
often refuses ``CONFIG``: then the warning says that it could not check, and what to check.

:func:`warnings_for` is the rule (plain data in, sentences out); :func:`check` asks the servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from newsletter.config import Settings, redact_url

BROKER = "the broker"
SEND_RATE = "the shared send rate"
_REDIS = ("redis://", "rediss://", "unix://")
TIMEOUT = 3.0  # seconds to connect and to answer: a worker's start must not hang on this


@dataclass(frozen=True)
class RedisUse:
    """One Redis server this worker relies on, and what for (:data:`BROKER`, :data:`SEND_RATE`)."""

    url: str
    roles: tuple[str, ...]


def uses(settings: Settings) -> list[RedisUse]:
    """The Redis servers of these settings: the broker when it is Redis, and the send rate's
    (NEWSLETTER_REDIS_URL, else the Redis broker) when a rate is set. One entry per URL."""
    found: dict[str, list[str]] = {}
    if settings.broker_url and settings.broker_url.startswith(_REDIS):
        found.setdefault(settings.broker_url, []).append(BROKER)
    limited = settings.send_rate is not None or settings.domain_rate is not None
    if limited and settings.limiter_url:
        found.setdefault(settings.limiter_url, []).append(SEND_RATE)
    return [RedisUse(url, tuple(roles)) for url, roles in found.items()]


def warnings_for(use: RedisUse, config: Mapping[str, str] | None, why: str = "") -> list[str]:
    """What is wrong with a Redis whose ``CONFIG GET`` answered ``config`` (None: it could not
    be asked, because ``why``). ``appendonly`` matters for the broker only (the send rate's keys
    may be lost on a restart: the limit starts afresh); ``maxmemory-policy`` for both."""
    where = f"Redis {redact_url(use.url)} ({' and '.join(use.roles)})"
    if config is None:
        return [
            f"{where}: could not check its persistence settings ({why}); make sure it runs with"
            " appendonly yes and maxmemory-policy noeviction, or queued batches can be lost"
            " (their rows are queued again from the database, minutes later)"
        ]
    out = []
    appendonly = config.get("appendonly", "")
    if BROKER in use.roles and appendonly.lower() != "yes":
        out.append(
            f"{where}: appendonly is {appendonly!r}, should be yes: a restart of Redis loses the "
            "batches queued since its last snapshot (their rows are queued again from the "
            "database by an idle worker or the minute tick, minutes later). Set 'appendonly yes'"
            " in redis.conf (or CONFIG SET appendonly yes, then CONFIG REWRITE)"
        )
    policy = config.get("maxmemory-policy", "")
    if policy.lower() != "noeviction":
        lost = "the broker's queued batches" if BROKER in use.roles else "the send rate's keys"
        out.append(
            f"{where}: maxmemory-policy is {policy!r}, must be noeviction: short of memory, "
            f"Redis would evict keys, {lost} among them. Set 'maxmemory-policy noeviction' in "
            "redis.conf (or CONFIG SET maxmemory-policy noeviction, then CONFIG REWRITE)"
        )
    return out


def read_config(url: str) -> tuple[dict[str, str] | None, str]:
    """``appendonly`` and ``maxmemory-policy`` of the Redis at ``url``, or (None, why not):
    ``CONFIG`` refused (a managed Redis, a renamed command, an ACL) or the server unreachable."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        config: dict[str, str] = {}
        for name in ("appendonly", "maxmemory-policy"):
            answer = client.config_get(name)
            value = answer.get(name)
            config[name] = value.decode() if isinstance(value, bytes) else str(value or "")
        return config, ""
    except redis.ResponseError as exc:
        return None, f"CONFIG GET was refused: {exc}"
    except (redis.RedisError, OSError) as exc:
        return None, f"cannot reach it: {exc}"
    finally:
        client.close()


def check(settings: Settings) -> list[str]:
    """Every warning about the Redis servers these settings rely on (none: all is well)."""
    out: list[str] = []
    for use in uses(settings):
        config, why = read_config(use.url)
        out += warnings_for(use, config, why)
    return out
