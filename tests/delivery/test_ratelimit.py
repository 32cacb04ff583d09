"""The send-rate limiter: GCRA arithmetic on a fake clock, then real Redis shared by processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
import redis

from newsletter.delivery.ratelimit import (
    LocalRateLimiter,
    NoLimit,
    RateLimiter,
    RedisRateLimiter,
    make_limiter,
)


class FakeTime:
    """A clock that only moves when the limiter sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Factory = Callable[..., RateLimiter]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; its keys (and only those) are deleted afterwards."""
    key = f"test:ratelimit:{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(redis_url)
    for name in client.scan_iter(match=f"{key}:*"):
        client.delete(name)
    client.close()


@pytest.fixture(params=["local", "redis"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[Factory, FakeTime]]:
    """Both limiters on a fake clock: the same calls must give the same sleeps."""
    ft = FakeTime()
    made: list[RateLimiter] = []

    def factory(*args: float | None, **kwargs: int) -> RateLimiter:
        limiter: RateLimiter
        if request.param == "local":
            limiter = LocalRateLimiter(*args, **kwargs, sleep=ft.sleep, clock=ft.clock)
        else:
            key = request.getfixturevalue("prefix")
            url = request.getfixturevalue("redis_url")
            limiter = RedisRateLimiter(
                url, *args, **kwargs, key=key, sleep=ft.sleep, clock=ft.clock
            )
        made.append(limiter)
        return limiter

    yield factory, ft
    for limiter in made:
        limiter.close()


def test_spacing_at_rate(fake: tuple[Factory, FakeTime]) -> None:
    factory, ft = fake
    limiter = factory(10.0)
    for _ in range(3):
        limiter.acquire("example.org")
    assert ft.sleeps == pytest.approx([0.1, 0.1])


def test_burst_goes_back_to_back_then_spaced(fake: tuple[Factory, FakeTime]) -> None:
    factory, ft = fake
    limiter = factory(10.0, burst=3)
    for _ in range(3):
        limiter.acquire("example.org")
    assert ft.sleeps == []
    limiter.acquire("example.org")
    assert ft.sleeps == pytest.approx([0.1])
    ft.now += 10  # idle: the burst is available again, not more
    for _ in range(3):
        limiter.acquire("example.org")
    assert ft.sleeps == pytest.approx([0.1])
    limiter.acquire("example.org")
    assert ft.sleeps == pytest.approx([0.1, 0.1])


def test_long_waits_are_slept_in_steps_of_at_most_one_second(
    fake: tuple[Factory, FakeTime],
) -> None:
    factory, ft = fake
    limiter = factory(0.2)
    limiter.acquire("example.org")
    limiter.acquire("example.org")
    assert ft.sleeps == pytest.approx([1.0] * 5)


def test_domain_cap_and_global_rate_together(fake: tuple[Factory, FakeTime]) -> None:
    factory, ft = fake
    limiter = factory(100.0, 10.0)
    limiter.acquire("gmail.com")  # t=0
    limiter.acquire("example.org")  # global: 10 ms after the last message
    limiter.acquire("GMail.COM")  # same domain, case-insensitive: 100 ms after the first
    limiter.acquire("someone@example.org")  # global again; an address counts as its domain
    assert ft.sleeps == pytest.approx([0.01, 0.09, 0.01])


def test_domain_cap_alone(fake: tuple[Factory, FakeTime]) -> None:
    factory, ft = fake
    limiter = factory(None, 4.0)
    for domain in ["a.example", "b.example", "a.example", "b.example"]:
        limiter.acquire(domain)
    assert ft.sleeps == pytest.approx([0.25])


@pytest.mark.redis
def test_redis_keys_are_lower_cased_and_expire(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_url, 10.0, 2.0, key=prefix)
    limiter.acquire("GMail.com")
    limiter.close()
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl(f"{prefix}:global") <= 101
    assert 0 < client.pttl(f"{prefix}:domain:gmail.com") <= 501
    time.sleep(0.6)
    assert client.keys(f"{prefix}:*") == []
    client.close()


# -- real time, real Redis, several processes ---------------------------------------------------
RATE, BURST, PERMITS, PROCESSES, THREADS = 40.0, 2, 60, 2, 2


def _worker(url: str, key: str, barrier: Barrier, out: Queue[tuple[float, list[float]]]) -> None:
    """One worker process: THREADS threads share its limiter; report grant times."""
    limiter = RedisRateLimiter(url, RATE, key=key, burst=BURST)
    grants: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(PERMITS // (PROCESSES * THREADS)):
            limiter.acquire("example.org")
            with lock:
                grants.append(time.time())

    barrier.wait(timeout=60)
    start = time.time()
    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.close()
    out.put((start, grants))


@pytest.mark.redis
def test_rate_holds_across_processes_and_threads(redis_url: str, prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out: Queue[tuple[float, list[float]]] = ctx.Queue()
    processes = [
        ctx.Process(target=_worker, args=(redis_url, prefix, barrier, out))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0
    start = min(s for s, _ in results)
    grants = sorted(t for _, g in results for t in g)
    assert len(grants) == PERMITS
    elapsed = grants[-1] - start
    assert (PERMITS - BURST) / RATE - 0.05 <= elapsed < 2.5, elapsed
    # any half-second window holds at most rate*0.5 + burst (+1 for timestamp jitter)
    busiest = max(sum(1 for t in grants if s <= t < s + 0.5) for s in grants)
    assert busiest <= RATE * 0.5 + BURST + 1, busiest


@pytest.mark.redis
def test_domain_cap_does_not_slow_other_domains(redis_url: str, prefix: str) -> None:
    """domain_rate is one cap applied to each domain separately (the interface has no
    per-domain table): gmail.com and example.org each get 10/s side by side, and 20 messages
    to 20 other domains, interleaved with them, only feel the global 100/s."""
    limiter = RedisRateLimiter(redis_url, 100.0, 10.0, key=prefix)
    took: dict[str, float] = {}

    def send(name: str, domains: list[str]) -> None:
        begin = time.monotonic()
        for domain in domains:
            limiter.acquire(domain)
        took[name] = time.monotonic() - begin

    jobs = {
        "gmail": ["gmail.com"] * 20,
        "example": ["example.org"] * 20,
        "others": [f"host{i}.example.net" for i in range(20)],
    }
    threads = [threading.Thread(target=send, args=job) for job in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.close()
    assert 1.9 - 0.02 <= took["gmail"] < 2.5, took  # 19 intervals of 100 ms
    assert 1.9 - 0.02 <= took["example"] < 2.5, took  # its own bucket, not after gmail's
    assert took["others"] < 0.8, took  # 20 at 100/s is ~0.2 s


@pytest.mark.redis
def test_unreachable_redis_raises() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0", 10.0)
    with pytest.raises(redis.exceptions.ConnectionError):
        limiter.acquire("example.org")
    limiter.close()


# -- choosing a limiter ---------------------------------------------------------------------------
def test_no_limit_returns_at_once() -> None:
    limiter = NoLimit()
    begin = time.monotonic()
    for _ in range(1000):
        limiter.acquire("example.org")
    limiter.close()
    assert time.monotonic() - begin < 0.1


@pytest.mark.parametrize(
    ("url", "rate", "domain_rate", "expected"),
    [
        (None, None, None, NoLimit),
        ("redis://127.0.0.1:6379/15", None, None, NoLimit),
        (None, 5.0, None, LocalRateLimiter),
        ("", None, 5.0, LocalRateLimiter),
        ("memory://", 5.0, None, LocalRateLimiter),
        ("redis://127.0.0.1:6379/15", 5.0, None, RedisRateLimiter),
        ("rediss://cache.example:6380/0", None, 5.0, RedisRateLimiter),
    ],
)
def test_make_limiter_picks(
    url: str | None, rate: float | None, domain_rate: float | None, expected: type
) -> None:
    limiter = make_limiter(url, rate, domain_rate)
    assert type(limiter) is expected
    limiter.close()


def test_make_limiter_refuses_other_brokers_without_echoing_the_password() -> None:
    with pytest.raises(ValueError, match="needs a redis:// URL") as caught:
        make_limiter("amqp://user:secret@mq.example//", 5.0, None)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_rates_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        LocalRateLimiter(rate)
    with pytest.raises(ValueError, match="positive"):
        LocalRateLimiter(None, rate)
    with pytest.raises(ValueError, match="burst"):
        LocalRateLimiter(1.0, burst=0)
