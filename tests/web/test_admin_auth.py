"""Staff login through Flask's test client on a real database: every admin page needs a login,
one answer for every failed login, rate limits, CSRF, logout by POST only, sessions that end
with a password change, no open redirect, editors kept from operators' actions, and API
tokens stored only as hashes."""

from __future__ import annotations

import re
import time
from typing import Literal

import pytest
from argon2 import PasswordHasher, profiles
from flask import Blueprint, Flask, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from newsletter.models import ApiToken, User
from newsletter.services import Context
from newsletter.services import users as staff
from newsletter.users import passwords
from newsletter.web.admin import auth
from newsletter.web.admin.auth import current_user, login_required, operator_required, safe_next
from tests.helpers.web import form_token

GOOD = "correct horse battery"
EDITOR = "ed@example.com"
OPERATOR = "op@example.com"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's cheapest profile: these tests are about the rules, not the cost."""
    monkeypatch.setattr(passwords, "hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def app(services: Context) -> Flask:
    """The app plus two pages on a blueprint of the test's own: one for staff, one for
    operators (registered before the first request, as Flask requires)."""
    from newsletter.web import create_app

    app = create_app(services.settings, context=services)
    pages = Blueprint("probe", __name__, url_prefix="/admin/probe")

    @pages.get("/staff")
    @login_required
    def staff_page() -> str:
        user = current_user()
        return render_template_string(
            '{% extends "admin/base.html.j2" %}{% block main %}<p id="probe">'
            "staff page for {{ who.email }} ({{ who.role }})</p>{% endblock %}",
            who=user,
        )

    @pages.post("/send")
    @operator_required
    def operators_page() -> str:
        return f"sent by {current_user().email}"

    app.register_blueprint(pages)
    return app


@pytest.fixture
def accounts(services: Context) -> None:
    staff.add_user(services, EDITOR, "editor", GOOD)
    staff.add_user(services, OPERATOR, "operator", GOOD)


def log_in(client: FlaskClient, email: str, password: str = GOOD, next_: str = "") -> TestResponse:
    token = form_token(client, "/admin/login")
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "email": email, "password": password, "next": next_},
    )


def test_pages_need_a_login_and_come_back_after_it(client: FlaskClient, accounts: None) -> None:
    answer = client.get("/admin/probe/staff?x=1")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/login?next=/admin/probe/staff?x%3D1"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/admin/probe/staff?x=1"' in page
    done = log_in(client, EDITOR, next_="/admin/probe/staff?x=1")
    assert (done.status_code, done.headers["Location"]) == (303, "/admin/probe/staff?x=1")
    assert f"staff page for {EDITOR} (editor)" in client.get("/admin/probe/staff").text


def test_every_admin_page_but_the_login_needs_one(app: Flask, client: FlaskClient) -> None:
    """A guard forgotten on any route registered on the admin blueprint shows up here."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in {
            "admin.login_form",
            "admin.login",
            "admin.logout",
        }:
            continue
        path = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": form_token(client, "/admin/login")} if method != "GET" else None
            answer = client.open(path, method=method, data=data)
            assert answer.status_code in (303, 401), (method, path, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["Location"].startswith("/admin/login"), (method, path)


def test_fetch_without_a_session_gets_json_401(client: FlaskClient) -> None:
    answer = client.get("/admin/probe/staff", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.json == {"error": "log in again"}


def test_one_answer_for_every_failed_login(
    client: FlaskClient, accounts: None, services: Context
) -> None:
    staff.add_user(services, "gone@example.com", "editor", GOOD)
    staff.disable_user(services, "gone@example.com")
    for email, password in [
        (EDITOR, "wrong password here"),
        ("nobody@example.com", GOOD),
        ("gone@example.com", GOOD),  # disabled: the right password changes nothing
        ("not an address", GOOD),
        (EDITOR, ""),
    ]:
        answer = log_in(client, email, password)
        assert answer.status_code == 400, email
        text = answer.get_data(as_text=True)
        assert "wrong email or password" in text
        assert "nl_form" not in answer.headers.get("Set-Cookie", "") or "uid" not in text
        assert client.get("/admin/probe/staff").status_code == 303, email


def test_an_unknown_email_costs_one_hash_check(
    client: FlaskClient, accounts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    cheap = profiles.CHEAPEST
    monkeypatch.setattr(
        passwords, "hasher", Counting(cheap.time_cost, cheap.memory_cost, cheap.parallelism)
    )
    log_in(client, "nobody@example.com", GOOD)
    log_in(client, EDITOR, "wrong password here")
    assert len(calls) == 2 and all(c.startswith("$argon2id$") for c in calls)


def test_a_login_sets_one_safe_cookie_and_drops_the_old_session(
    client: FlaskClient, accounts: None
) -> None:
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    answer = log_in(client, OPERATOR)
    assert answer.status_code == 303
    cookies = answer.headers.getlist("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("nl_form=")
    flags = {part.strip().lower() for part in cookies[0].split(";")}
    assert {"secure", "httponly", "samesite=lax"} <= flags  # base_url is https in tests
    with client.session_transaction() as session:
        assert "planted" not in session
        assert set(session) >= {"uid", "sv", "at"}


def test_the_login_form_needs_its_csrf_token(client: FlaskClient, accounts: None) -> None:
    client.get("/admin/login")
    answer = client.post("/admin/login", data={"email": EDITOR, "password": GOOD})
    assert answer.status_code == 400
    assert "This form has expired" in answer.get_data(as_text=True)
    assert client.get("/admin/probe/staff").status_code == 303


def test_logout_is_a_post_with_its_token(client: FlaskClient, accounts: None) -> None:
    log_in(client, EDITOR)
    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400  # no CSRF token
    assert client.get("/admin/probe/staff").status_code == 200
    page = client.get("/admin/probe/staff").text
    token = re.search(
        r'action="/admin/logout">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page
    )
    assert token is not None, page
    out = client.post("/admin/logout", data={"csrf_token": token.group(1)})
    assert (out.status_code, out.headers["Location"]) == (303, "/admin/login?out=1")
    assert "You are logged out" in client.get("/admin/login?out=1").get_data(as_text=True)
    assert client.get("/admin/probe/staff").status_code == 303


def test_a_password_change_ends_older_sessions(
    client: FlaskClient, app: Flask, accounts: None, services: Context
) -> None:
    log_in(client, EDITOR)
    assert client.get("/admin/probe/staff").status_code == 200
    other = app.test_client()
    log_in(other, EDITOR)
    staff.add_user(services, EDITOR, "editor", "a new long passphrase", update=True)
    assert client.get("/admin/probe/staff").status_code == 303
    assert other.get("/admin/probe/staff").status_code == 303
    assert log_in(client, EDITOR).status_code == 400  # the old password is gone
    assert log_in(client, EDITOR, "a new long passphrase").status_code == 303
    assert client.get("/admin/probe/staff").status_code == 200


def test_disabling_ends_the_session(client: FlaskClient, accounts: None, services: Context) -> None:
    log_in(client, EDITOR)
    staff.disable_user(services, EDITOR)
    assert client.get("/admin/probe/staff").status_code == 303


def test_a_session_ends_after_its_hours(client: FlaskClient, accounts: None) -> None:
    log_in(client, EDITOR)
    with client.session_transaction() as session:
        session["at"] = int(time.time()) - auth.SESSION_HOURS * 3600 - 1
    assert client.get("/admin/probe/staff").status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/admin/",
        "https://evil.example/admin/",
        "/\\evil.example",
        "/admin/../public",
        "/subscribe",
        "javascript:alert(1)",
        "/admin/x\r\nSet-Cookie: a=b",
        "",
    ],
)
def test_no_open_redirect(client: FlaskClient, accounts: None, target: str) -> None:
    assert safe_next(target) == "/admin/"
    answer = log_in(client, EDITOR, next_=target)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/admin/")


def test_next_under_admin_is_kept() -> None:
    assert safe_next("/admin/issues/4/desk?as=a%40b.c") == "/admin/issues/4/desk?as=a%40b.c"


def test_an_editor_gets_403_saying_why(client: FlaskClient, accounts: None) -> None:
    log_in(client, EDITOR)
    token = form_token(client, "/admin/login")
    answer = client.post("/admin/probe/send", data={"csrf_token": token})
    assert answer.status_code == 403
    text = answer.get_data(as_text=True)
    assert "Only an operator can do this" in text and "Nothing was changed" in text
    assert EDITOR in text
    as_json = client.post(
        "/admin/probe/send", json={}, headers={"X-CSRFToken": token, "Accept": "application/json"}
    )
    assert (as_json.status_code, as_json.json) == (403, {"error": "only an operator may do this"})


def test_an_operator_passes(client: FlaskClient, accounts: None) -> None:
    log_in(client, OPERATOR)
    token = form_token(client, "/admin/login")
    answer = client.post("/admin/probe/send", data={"csrf_token": token})
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, f"sent by {OPERATOR}")


def test_login_attempts_are_limited_per_client(client: FlaskClient, accounts: None) -> None:
    for n in range(10):
        assert log_in(client, f"guess{n}@example.com", "wrong password here").status_code == 400
    answer = log_in(client, OPERATOR)  # even the right password: the limit is on attempts
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert "Too many login attempts" in answer.get_data(as_text=True)
    other = client.application.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    assert log_in(other, OPERATOR).status_code == 303  # another client is not held back


def test_login_attempts_are_limited_per_account(app: Flask, accounts: None) -> None:
    for n in range(10):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        assert log_in(client, EDITOR, "wrong password here").status_code == 400
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    assert log_in(client, EDITOR.upper()).status_code == 429  # the same account, any case
    assert log_in(client, OPERATOR).status_code == 303


def test_the_layout_names_the_user_and_the_publication(
    client: FlaskClient, accounts: None, services: Context
) -> None:
    login_page = client.get("/admin/login").text
    assert services.settings.site_name in login_page
    assert services.settings.accent_color in login_page
    assert "Log out" not in login_page and 'href="/archive"' not in login_page
    log_in(client, OPERATOR)
    page = client.get("/admin/probe/staff").text
    assert OPERATOR in page and ">operator<" in page
    assert 'href="/admin/">Issues</a>' in page and 'href="/archive">Archive</a>' in page
    assert re.search(r'<form method="post" action="/admin/logout">', page)
    # logged in already: the login page sends you on
    assert client.get("/admin/login?next=/admin/probe/staff").headers["Location"] == (
        "/admin/probe/staff"
    )


def test_tokens_are_stored_hashed_and_checked(
    services: Context, factory: sessionmaker[Session], accounts: None
) -> None:
    token = staff.new_token(services, EDITOR)
    with factory() as session:
        stored = session.scalars(select(ApiToken)).one()
        every_value = [str(v) for v in vars(stored).values()]
        assert token not in every_value
        assert stored.last_used_at is None
    assert staff.user_for_token(services, token).email == EDITOR
    with factory() as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None
    for bad in ["", "nlt_", token + "x", token[:-1], "Bearer " + token, "nlt_é" * 5]:
        with pytest.raises(staff.BadCredentials):
            staff.user_for_token(services, bad)
    staff.revoke_tokens(services, EDITOR)
    with pytest.raises(staff.BadCredentials, match="unknown or revoked token"):
        staff.user_for_token(services, token)


def test_an_old_hash_is_replaced_at_login(
    services: Context, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    staff.add_user(services, EDITOR, "editor", GOOD)
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", stronger)
    staff.authenticate(services, EDITOR, GOOD)
    with factory() as session:
        stored = session.scalars(select(User)).one().password_hash
    assert stored is not None and "m=1024,t=2,p=1" in stored
    stronger.verify(stored, GOOD)


def test_bad_input_names_the_field_and_writes_nothing(
    services: Context, factory: sessionmaker[Session]
) -> None:
    from newsletter.errors import FieldError

    cases = [
        (("not-an-address", "editor", GOOD), "email"),
        ((EDITOR, "admin", GOOD), "role"),
        ((EDITOR, "editor", "short"), "password"),
        ((EDITOR, "editor", " " * 12), "password"),
        ((EDITOR, "editor", "x" * 1025), "password"),
    ]
    for args, field in cases:
        with pytest.raises(FieldError) as caught:
            staff.add_user(services, *args)
        assert caught.value.field == field
    with factory() as session:
        assert session.scalars(select(User)).all() == []
