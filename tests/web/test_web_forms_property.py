"""Any form body, posted with a valid token, gets a page: 2xx or 4xx, never a 500, and never a
half-written change (a refusal changes nothing; a sign-up touches only its own address)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import InputError
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Event, Subscriber, SubscriberStatus, Suppression, utcnow
from newsletter.sections import SECTIONS
from newsletter.services import Context
from newsletter.subscribers.parse import address_field
from newsletter.tokens import Signer
from newsletter.web import create_app
from tests.helpers.web import form_token, settle

KNOWN = "known@example.com"
EXAMPLES = examples(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def huge(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A long run of one character: up to twice the 64 KB a request may carry."""
    return st.builds(lambda c, n: c * n, alphabet, st.integers(1000, 140_000))


texts = (
    st.text(max_size=300)
    | huge(st.characters(codec="utf-8"))
    | st.sampled_from(["", " ", "\x00", "\r\n"])
)
emails = (
    st.emails().map(str)
    | st.sampled_from([KNOWN, " KNOWN@Example.COM ", "a\x00b@x.example", "a,b@x.example"])
    | texts
)
categories = st.lists(
    st.sampled_from(SECTIONS) | st.sampled_from(["film", "Opera"]) | texts, max_size=8
)
junk = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda k: k not in ("csrf_token", "List-Unsubscribe")),
    texts,
    max_size=4,
)


@pytest.fixture
def client(settings: Settings, factory: sessionmaker[Session]) -> Iterator[FlaskClient]:
    roomy = settings.with_overrides(
        signup_client_limit="10000/minute", signup_address_limit="10000/hour"
    )
    app = create_app(roomy, context=Context(roomy, factory, lambda: MemoryTransport()))
    with app.test_client() as c:
        yield c


def snapshot(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory() as session:
        people = {
            row.email_key: (row.status, row.name, row.category_mask, row.confirm_sent_at)
            for row in session.scalars(select(Subscriber))
        }
        suppressed = sorted(session.scalars(select(Suppression.email_hash)))
        events = len(session.scalars(select(Event.id)).all())
    return {"people": people, "suppressed": suppressed, "events": events}


def stored_as(email: str) -> str | None:
    try:
        return address_field(email)
    except InputError:
        return None


def post(client: FlaskClient, path: str, fields: dict[str, Any]) -> tuple[int, str]:
    answer = client.post(path, data={**fields, "csrf_token": form_token(client)})
    settle(client)
    assert answer.status_code in (200, 400, 413), (answer.status_code, fields)
    assert answer.mimetype == "text/html"
    return answer.status_code, answer.get_data(as_text=True)


def known(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email_key == KNOWN))
        if row is None:
            row = Subscriber(
                email=KNOWN, email_key=KNOWN, status=SubscriberStatus.CONFIRMED, created_at=utcnow()
            )
            session.add(row)
            session.flush()
        return row.id


@EXAMPLES
@given(email=emails, name=st.none() | texts, picks=categories, extra=junk)
def test_any_sign_up_gets_a_page_and_changes_at_most_its_own_address(
    client: FlaskClient,
    factory: sessionmaker[Session],
    email: str,
    name: str | None,
    picks: list[str],
    extra: dict[str, str],
) -> None:
    known(factory)
    before = snapshot(factory)
    fields: dict[str, Any] = {**extra, "email": email, "categories": picks}
    if name is not None:
        fields["name"] = name
    status, page = post(client, "/subscribe", fields)
    after = snapshot(factory)
    if status != 200:
        assert after == before, page[:300]
        return
    assert "Check your inbox" in page
    own = stored_as(email)
    assert own is not None  # only a real address is taken
    others = {key: value for key, value in after["people"].items() if key != own}
    assert others == {key: value for key, value in before["people"].items() if key != own}
    assert after["suppressed"] == before["suppressed"]


@EXAMPLES
@given(name=st.none() | texts, picks=categories, extra=junk)
def test_any_preferences_form_saves_whole_or_not_at_all(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    name: str | None,
    picks: list[str],
    extra: dict[str, str],
) -> None:
    ident = known(factory)
    path = f"/p/{Signer((settings.secret_key or '').encode()).make('preferences', str(ident))}"
    before = snapshot(factory)
    fields: dict[str, Any] = {**extra, "categories": picks}
    if name is not None:
        fields["name"] = name
    status, page = post(client, path, fields)
    after = snapshot(factory)
    if status != 200:
        assert after == before, page[:300]
        return
    assert "Saved" in page
    assert {k: v for k, v in after["people"].items() if k != KNOWN} == {
        k: v for k, v in before["people"].items() if k != KNOWN
    }


@EXAMPLES
@given(extra=junk, token=st.text(max_size=200))
@example(extra={}, token="/0")  # "/confirm//0": a 404, not a redirect
@example(extra={}, token=".\x80")  # non-ASCII: once a TypeError (500) in compare_digest
def test_any_post_to_a_link_page_gets_a_page(
    client: FlaskClient, factory: sessionmaker[Session], extra: dict[str, str], token: str
) -> None:
    """Confirm and unsubscribe buttons with junk fields and junk tokens: 400, 404 or 413."""
    known(factory)
    before = snapshot(factory)
    for prefix in ("/confirm/", "/u/"):
        answer = client.post(
            prefix + (quote(token, safe="") or "x"),
            data={**extra, "csrf_token": form_token(client)},
        )
        assert answer.status_code in (400, 404, 413), (prefix, token, answer.status_code)
    assert snapshot(factory) == before


@EXAMPLES
@given(
    body=st.binary(max_size=2000), path=st.sampled_from(["/subscribe", "/u/x.y", "/confirm/x.y"])
)
def test_any_bytes_as_a_form_body_get_a_page(
    client: FlaskClient, factory: sessionmaker[Session], body: bytes, path: str
) -> None:
    """Bytes no browser would send (bad UTF-8, bad percent-escapes, stray ``&=``), with a
    valid token: a page, and nothing changed unless it was a sign-up."""
    known(factory)
    before = snapshot(factory)
    token = form_token(client).encode()
    answer = client.post(
        path, data=body + b"&csrf_token=" + token, content_type="application/x-www-form-urlencoded"
    )
    settle(client)
    assert answer.status_code in (200, 400), answer.status_code
    if answer.status_code != 200:
        assert snapshot(factory) == before
