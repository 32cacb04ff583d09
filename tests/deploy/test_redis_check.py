"""The worker's look at its Redis at start: appendonly and maxmemory-policy, each wrong value
one warning; a Redis that refuses CONFIG is said to be unchecked. The rule on plain data, then
against real redis-servers set up wrong on purpose, then in a real worker's log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.jobs.redis_check import (
    BROKER,
    SEND_RATE,
    RedisUse,
    check,
    read_config,
    uses,
    warnings_for,
)
from tests.helpers.workers import start_worker, stop, tails, wait_ready

GOOD = {"appendonly": "yes", "maxmemory-policy": "noeviction"}


def test_a_well_kept_redis_gets_no_warning() -> None:
    use = RedisUse("redis://h:6379/0", (BROKER, SEND_RATE))
    assert warnings_for(use, GOOD) == []
    assert warnings_for(use, {"appendonly": "YES", "maxmemory-policy": "NoEviction"}) == []


def test_each_wrong_value_is_one_warning_that_says_what_to_set() -> None:
    use = RedisUse("redis://:secret@h:6379/0", (BROKER,))
    (appendonly,) = warnings_for(use, {**GOOD, "appendonly": "no"})
    assert appendonly.startswith("Redis redis://:***@h:6379/0 (the broker): appendonly is 'no'")
    assert "'appendonly yes'" in appendonly and "secret" not in appendonly
    (policy,) = warnings_for(use, {**GOOD, "maxmemory-policy": "allkeys-lru"})
    assert "maxmemory-policy is 'allkeys-lru', must be noeviction" in policy
    assert "the broker's queued batches" in policy
    both = warnings_for(use, {"appendonly": "no", "maxmemory-policy": "volatile-lru"})
    assert len(both) == 2


def test_the_send_rate_alone_needs_no_appendonly() -> None:
    use = RedisUse("redis://h/1", (SEND_RATE,))
    assert warnings_for(use, {**GOOD, "appendonly": "no"}) == []
    (policy,) = warnings_for(use, {**GOOD, "maxmemory-policy": "allkeys-random"})
    assert "(the shared send rate)" in policy and "the send rate's keys" in policy


def test_a_redis_that_cannot_be_asked_is_said_to_be_unchecked() -> None:
    (warning,) = warnings_for(RedisUse("rediss://h/0", (BROKER,)), None, "CONFIG GET was refused")
    assert "could not check its persistence settings (CONFIG GET was refused)" in warning
    assert "appendonly yes and maxmemory-policy noeviction" in warning


def test_which_redis_servers_a_worker_relies_on() -> None:
    assert uses(Settings()) == []
    assert uses(Settings(broker_url="redis://b/0")) == [RedisUse("redis://b/0", (BROKER,))]
    both = Settings(broker_url="redis://b/0", send_rate=5.0)
    assert uses(both) == [RedisUse("redis://b/0", (BROKER, SEND_RATE))]
    rabbit = Settings(broker_url="amqp://g:g@mq//", redis_url="redis://r/1", domain_rate=2.0)
    assert uses(rabbit) == [RedisUse("redis://r/1", (SEND_RATE,))]
    apart = Settings(broker_url="redis://b/0", redis_url="redis://r/1", send_rate=5.0)
    assert uses(apart) == [
        RedisUse("redis://b/0", (BROKER,)),
        RedisUse("redis://r/1", (SEND_RATE,)),
    ]
    assert uses(Settings(broker_url="amqp://g:g@mq//")) == []  # nothing of ours in Redis


def test_real_redis_servers(private_redis: Callable[..., str]) -> None:
    lossy = private_redis("--maxmemory-policy", "allkeys-lru")
    assert read_config(lossy) == ({"appendonly": "no", "maxmemory-policy": "allkeys-lru"}, "")
    assert len(check(Settings(broker_url=lossy))) == 2
    kept = private_redis("--appendonly", "yes", "--maxmemory-policy", "noeviction")
    assert check(Settings(broker_url=kept)) == []
    managed = private_redis("--rename-command", "CONFIG", "")  # as managed services do
    config, why = read_config(managed)
    assert config is None and why.startswith("CONFIG GET was refused: unknown command")
    (warning,) = check(Settings(broker_url=managed))
    assert "could not check" in warning
    (unreachable,) = check(Settings(broker_url="redis://127.0.0.1:9/0"))
    assert "could not check its persistence settings (cannot reach it:" in unreachable


def test_a_worker_says_so_in_its_log_at_start(
    settings: Settings, engine: Engine, private_redis: Callable[..., str], tmp_path: Path
) -> None:
    broker = private_redis("--maxmemory-policy", "allkeys-lru")  # and appendonly no
    log = tmp_path / "worker.log"
    worker = start_worker(settings.with_overrides(broker_url=broker), "redischeck", log)
    try:
        wait_ready([log], [worker])
    finally:
        stop([worker])
    text = log.read_text()
    lines = [line for line in text.splitlines() if "WARNING" in line and "Redis redis://" in line]
    assert len(lines) == 2, tails([log])
    assert "appendonly is 'no', should be yes" in lines[0]
    assert "maxmemory-policy is 'allkeys-lru', must be noeviction" in lines[1]
    assert text.index("appendonly is 'no'") < text.index(" ready.")  # said before it works
