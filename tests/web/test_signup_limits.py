"""Sign-up rate limits: one client cannot mail a list of victims, nor anyone one address over
and over; 429 with Retry-After. In this process's memory by default, in Redis when one is
configured, so that every process serving the app shares them."""

from __future__ import annotations

import secrets

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Subscriber
from newsletter.services import Context
from newsletter.web import create_app
from tests.helpers.web import form_token, settle


def client_at(app: Flask, ip: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def sign_up(client: FlaskClient, address: str) -> tuple[int, str | None, bytes]:
    fields = {"email": address, "csrf_token": form_token(client)}
    answer = client.post("/subscribe", data=fields)
    return answer.status_code, answer.headers.get("Retry-After"), answer.data


def count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Subscriber)) or 0


def test_one_client_cannot_mail_forty_victims(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    transport = MemoryTransport()
    app = create_app(settings, factory=factory, transport=transport)
    attacker = client_at(app, "203.0.113.7")
    answers = [sign_up(attacker, f"victim{n}@example.com") for n in range(40)]
    assert [a[0] for a in answers[:5]] == [200] * 5  # the default: 5 per minute
    refused = answers[5:]
    assert {a[0] for a in refused} == {429}
    assert all(a[1] is not None and 1 <= int(a[1]) <= 60 for a in refused)
    assert b"Too many sign-ups" in refused[0][2] and b"Nothing was changed" in refused[0][2]
    settle(attacker)
    assert len(transport.sent) == 5 and count(factory) == 5
    # someone else, elsewhere, still gets through
    assert sign_up(client_at(app, "198.51.100.20"), "ann@example.com")[0] == 200
    settle(attacker)


def test_one_address_is_limited_whoever_asks(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    app = create_app(settings, factory=factory, transport=MemoryTransport())
    results = [
        sign_up(client_at(app, f"198.51.100.{n}"), ("Bo@Example.com", "bo@example.com ")[n % 2])
        for n in range(1, 6)
    ]
    assert [r[0] for r in results] == [200, 200, 200, 429, 429]  # 3 per hour, as stored
    assert int(results[3][1] or 0) > 60
    # an invalid address counts too, under its own text (a 400 is not a free try)
    bad = [sign_up(client_at(app, f"192.0.2.{n}"), "not an address") for n in range(1, 5)]
    assert [b[0] for b in bad] == [400, 400, 400, 429]
    settle(app.test_client())


def test_the_limits_are_shared_through_redis(
    settings: Settings, factory: sessionmaker[Session], redis_url: str
) -> None:
    """Two app processes (two apps here) on one Redis count the same client together, and
    the counts live in Redis, under no address in clear."""
    block = f"2001:db8:{int(secrets.token_hex(2), 16):x}::"  # a client (its /64) of this run only
    ip = f"{block}1"
    address = f"cy-{secrets.token_hex(4)}@example.com"
    shared = settings.with_overrides(
        redis_url=redis_url, signup_client_limit="4 per minute", signup_address_limit="100/hour"
    )
    apps = [
        create_app(shared, context=Context(shared, factory, lambda: MemoryTransport()))
        for _ in range(2)
    ]
    statuses = [sign_up(client_at(apps[n % 2], ip), f"{n}{address}")[0] for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = [str(key) for key in store.keys("*newsletter*")]
    assert any(f"{block}/64" in key for key in keys)  # an IPv6 client is counted by its /64
    assert not any("example.com" in key for key in keys)
    # without Redis the same two apps would each have let four through
    alone = [create_app(settings, factory=factory, transport=MemoryTransport()) for _ in range(2)]
    other_ip = f"2001:db8::{secrets.token_hex(2)}"
    statuses = [sign_up(client_at(alone[n % 2], other_ip), f"m{n}{address}")[0] for n in range(6)]
    assert statuses.count(200) == 6
    for app in apps + alone:
        settle(app.test_client())


def test_with_redis_down_the_limits_hold_in_memory(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    down = settings.with_overrides(
        redis_url="redis://127.0.0.1:1/0", signup_client_limit="2/minute"
    )
    app = create_app(down, factory=factory, transport=MemoryTransport())
    client = client_at(app, "203.0.113.9")
    statuses = [sign_up(client, f"dee{n}@example.com")[0] for n in range(4)]
    assert statuses == [200, 200, 429, 429]
    settle(client)


def test_behind_a_local_proxy_the_client_is_who_the_proxy_says(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """A proxy on a private address appends the client to X-Forwarded-For: each client has
    its own limit. Anyone else's X-Forwarded-For is ignored (it would pick a fresh limit)."""
    app = create_app(settings, factory=factory, transport=MemoryTransport())
    proxied = client_at(app, "10.0.0.5")
    for n in range(8):  # eight readers behind one proxy, over the 5 a minute of one client
        proxied.environ_base["HTTP_X_FORWARDED_FOR"] = f"1.2.3.4, 198.51.100.{n}"
        assert sign_up(proxied, f"reader{n}@example.com")[0] == 200
    direct = client_at(app, "93.184.216.34")  # a public address (not a test net: private)
    statuses = []
    for n in range(7):
        direct.environ_base["HTTP_X_FORWARDED_FOR"] = f"192.0.2.{n}"
        statuses.append(sign_up(direct, f"spoof{n}@example.com")[0])
    assert statuses == [200] * 5 + [429] * 2
    settle(direct)
