"""Rotating NEWSLETTER_SECRET_KEY without breaking what was already sent: with the old key in
NEWSLETTER_SECRET_KEY_FALLBACKS every signature made with it still verifies (link tokens, the
VERP return path, X-Newsletter-Id, the unsubscribe mailto tag, click links, the web session and
its form token), nothing new is signed with it, and a key that is not listed verifies nothing.
"""

from __future__ import annotations

import email
import html
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.errors import ConfigError, WorkError
from newsletter.feedback.bounces import BouncePolicy
from newsletter.mail.memory import MemoryTransport
from newsletter.models import LinkClick, Subscriber, SubscriberStatus
from newsletter.services import Context
from newsletter.tokens import BadToken, Signer
from newsletter.web import check_exposure, create_app
from tests.helpers.factories import issue_with, review, send_now

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40
OTHER = "other-key-" + "x" * 40
BASE = "https://news.example.org"


def _keyed(settings: Settings, key: str, *fallbacks: str) -> Settings:
    return settings.with_overrides(
        secret_key=key,
        secret_key_fallbacks=fallbacks,
        bounce_address="bounces@news.example.com",
    )


# -- the setting ----------------------------------------------------------------------------------
def test_fallbacks_are_read_comma_separated_and_passed_on() -> None:
    settings = Settings.from_mapping(
        {"NEWSLETTER_SECRET_KEY": NEW, "NEWSLETTER_SECRET_KEY_FALLBACKS": f" {OLD} ,{OTHER}"}
    )
    assert settings.secret_key_fallbacks == (OLD, OTHER)
    assert Settings.from_mapping(settings.as_environ()) == settings
    assert Settings.from_mapping({}).secret_key_fallbacks == ()


@pytest.mark.parametrize("value", ["a,,b", ",a", "a,", " , "])
def test_an_empty_fallback_key_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"NEWSLETTER_SECRET_KEY_FALLBACKS": value})
    assert str(caught.value) == (
        "NEWSLETTER_SECRET_KEY_FALLBACKS: an empty key between commas (or at either end)"
    )


def test_a_line_break_in_a_fallback_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY_FALLBACKS: contains control"):
        Settings.from_mapping({"NEWSLETTER_SECRET_KEY_FALLBACKS": "abc\ndef"})


def test_serving_beyond_loopback_needs_long_fallback_keys_too(settings: Settings) -> None:
    strong = settings.with_overrides(secret_key=NEW, secret_key_fallbacks=(OLD,))
    check_exposure(strong, "192.0.2.10")
    weak = strong.with_overrides(secret_key_fallbacks=(OLD, "short"))
    with pytest.raises(WorkError, match="NEWSLETTER_SECRET_KEY_FALLBACKS of at least 32 bytes"):
        check_exposure(weak, "192.0.2.10")
    check_exposure(weak, "127.0.0.1")  # on this machine only, as with the key itself


# -- link tokens ----------------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", ["confirm", "unsubscribe", "preferences", "click", "link"])
def test_a_token_of_the_old_key_verifies_after_rotation_and_new_ones_use_the_new_key(
    purpose: str,
) -> None:
    old_token = Signer(OLD.encode()).make(purpose, "42")
    rotated = Signer(NEW.encode(), [OLD.encode()])
    assert rotated.verify(old_token, purpose) == "42"
    with pytest.raises(BadToken, match="signature does not match"):
        Signer(NEW.encode(), [OTHER.encode()]).verify(old_token, purpose)
    with pytest.raises(BadToken, match="signature does not match"):
        Signer(NEW.encode()).verify(old_token, purpose)
    # signing is the current key's alone: once the old key is dropped, new links still work
    new_token = rotated.make(purpose, "42")
    assert Signer(NEW.encode()).verify(new_token, purpose) == "42"
    with pytest.raises(BadToken):
        Signer(OLD.encode()).verify(new_token, purpose)


# -- one issue sent before the rotation, read after it ------------------------------------------
def _sent_before_rotation(
    factory: sessionmaker[Session], settings: Settings
) -> tuple[EmailMessage, str]:
    """An issue to one reader, signed with OLD: the message and its return path."""
    before = _keyed(settings, OLD)
    issue_id = issue_with(factory, before, [review("dune", "Film")], ["ann@example.com"])
    transport = MemoryTransport()
    send_now(factory, before, issue_id, transport)
    ((envelope, raw),) = transport.sent
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message, envelope.mail_from


def _app(settings: Settings, factory: sessionmaker[Session]) -> Flask:
    transport = MemoryTransport()
    context = Context(settings, factory, transport_factory=lambda: transport)
    return create_app(settings, context=context)


def _paths(message: EmailMessage) -> dict[str, str]:
    """The reader's own links in the message: unsubscribe, preferences, view online, a click."""
    body = message.get_body(("html",))
    assert body is not None
    page = html.unescape(body.get_content())
    found = {kind: re.search(rf'href="{BASE}(/{kind}/[^"]+)"', page) for kind in "upvc"}
    assert all(found.values()), found
    return {kind: match.group(1) for kind, match in found.items() if match}


def _clicks(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(LinkClick)) or 0


def _status(factory: sessionmaker[Session]) -> SubscriberStatus:
    with factory() as session:
        return session.scalars(select(Subscriber.status)).one()


def test_mail_sent_before_a_rotation_still_works_after_it(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    message, return_path = _sent_before_rotation(factory, settings)
    paths = _paths(message)
    rotated = _keyed(settings, NEW, OLD)
    client = _app(rotated, factory).test_client()
    assert client.get(paths["v"]).status_code == 200  # view online
    assert client.get(paths["p"]).status_code == 200  # preferences
    click = client.get(paths["c"])
    assert click.status_code == 302 and click.headers["Location"].startswith("https://")
    assert _clicks(factory) == 1
    # what comes back by mail: a bounce to the VERP return path, a feedback loop's quoted
    # X-Newsletter-Id, a request to the List-Unsubscribe mailto
    bounce_policy = BouncePolicy.from_settings(rotated)
    assert bounce_policy.return_path is not None and bounce_policy.tags is not None
    verp = bounce_policy.return_path.identify(return_path)
    tag = bounce_policy.tags.identify(str(message["X-Newsletter-Id"]))
    mailto = re.search(r"<mailto:([^?>]+)", str(message["List-Unsubscribe"]))
    assert mailto is not None and bounce_policy.unsubscribe is not None
    request = bounce_policy.unsubscribe.read(mailto.group(1))
    assert verp is not None and verp.signed and verp.subscriber_id > 0
    assert tag == verp
    assert request is not None and request.ids == verp
    # and the one-click unsubscribe of the List-Unsubscribe header
    one_click = client.post(
        paths["u"],
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 200
    assert _status(factory) is SubscriberStatus.UNSUBSCRIBED


def test_mail_signed_with_a_key_not_listed_verifies_nothing(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    message, return_path = _sent_before_rotation(factory, settings)
    paths = _paths(message)
    elsewhere = _keyed(settings, NEW, OTHER)
    client = _app(elsewhere, factory).test_client()
    for kind in "vp":
        assert client.get(paths[kind]).status_code == 400, kind
    assert client.get(paths["c"]).status_code == 400  # the link token is forged to this key
    assert _clicks(factory) == 0
    bounce_policy = BouncePolicy.from_settings(elsewhere)
    assert bounce_policy.return_path is not None and bounce_policy.tags is not None
    assert bounce_policy.return_path.identify(return_path) is None
    assert bounce_policy.tags.identify(str(message["X-Newsletter-Id"])) is None
    mailto = re.search(r"<mailto:([^?>]+)", str(message["List-Unsubscribe"]))
    assert mailto is not None and bounce_policy.unsubscribe is not None
    request = bounce_policy.unsubscribe.read(mailto.group(1))
    assert request is not None and request.ids is None  # unverified: kept aside
    one_click = client.post(
        paths["u"],
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 400
    assert _status(factory) is SubscriberStatus.CONFIRMED


# -- the web session and its form token ------------------------------------------------------------
def _page_opened_before(
    settings: Settings, factory: sessionmaker[Session], path: str
) -> tuple[str, str]:
    """Open ``path`` on the app of OLD: (its session cookie, the form's CSRF token)."""
    client = _app(_keyed(settings, OLD), factory).test_client()
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    cookie = client.get_cookie("nl_form")
    assert token is not None and cookie is not None
    return cookie.value, token.group(1)


def _post_after(app: Flask, path: str, cookie: str, token: str) -> Callable[[], tuple[int, str]]:
    def post() -> tuple[int, str]:
        client: FlaskClient = app.test_client()
        client.set_cookie("nl_form", cookie)
        answer = client.post(path, data={"csrf_token": token})
        return answer.status_code, answer.get_data(as_text=True)

    return post


def test_a_form_opened_before_a_rotation_posts_after_it(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """The unsubscribe page's button (a form: session cookie plus CSRF token), opened while
    OLD was the key and pressed once NEW is, OLD a fallback."""
    message, _ = _sent_before_rotation(factory, settings)
    path = _paths(message)["u"]
    cookie, token = _page_opened_before(settings, factory, path)
    status, page = _post_after(_app(_keyed(settings, NEW, OLD), factory), path, cookie, token)()
    assert status == 200, page
    assert _status(factory) is SubscriberStatus.UNSUBSCRIBED


def test_a_form_of_a_key_not_listed_has_expired(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    message, _ = _sent_before_rotation(factory, settings)
    path = _paths(message)["u"]
    cookie, token = _page_opened_before(settings, factory, path)
    status, page = _post_after(_app(_keyed(settings, NEW, OTHER), factory), path, cookie, token)()
    assert status == 400 and "This form has expired" in page  # the form's check, before the link
    assert _status(factory) is SubscriberStatus.CONFIRMED
