"""``newsletter users``: adding staff (password from stdin or a hidden prompt, never an
option), updating, tokens shown once and stored hashed, list, disable and enable."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.cli import _users, cli
from newsletter.cli._app import Runtime
from newsletter.config import Settings
from newsletter.errors import InputError, NotFound
from newsletter.models import ApiToken, User
from newsletter.services import Context
from newsletter.services import users as staff
from newsletter.users import passwords
from tests.helpers.cli import run

GOOD = "correct horse battery"
Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's cheapest profile: the tests are about the rules, not the cost."""
    monkeypatch.setattr(passwords, "hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def users(settings: Settings, factory: sessionmaker[Session]) -> Invoke:
    """``users("add", ...)`` in this process, with ``input=`` as standard input."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            cli, ["users", *args], input=input, obj=Runtime(settings), catch_exceptions=False
        )

    return invoke


def test_add_from_stdin_stores_only_an_argon2id_hash(
    users: Invoke, factory: sessionmaker[Session]
) -> None:
    done = users(
        "add", "Ann@Example.com", "--role", "operator", "--password-stdin", input=GOOD + "\n"
    )
    assert done.exit_code == 0, done.output
    assert "Ann@Example.com: added, operator, can log in" in done.output
    with factory() as session:
        user = session.scalars(select(User)).one()
        assert user.email_key == "ann@example.com"
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert GOOD not in user.password_hash


def test_short_password_is_refused_with_its_reason_and_nothing_written(
    users: Invoke, factory: sessionmaker[Session]
) -> None:
    with pytest.raises(InputError, match=r"password: too short: at least 10 characters"):
        users("add", "ann@example.com", "--role", "editor", "--password-stdin", input="short\n")
    with factory() as session:
        assert session.scalars(select(User)).all() == []


def test_bad_email_and_role_name_the_field(users: Invoke) -> None:
    with pytest.raises(InputError, match=r"^EMAIL 'not an address': "):
        users("add", "not an address", "--role", "editor", "--password-stdin", input=GOOD)
    done = users("add", "a@example.com", "--role", "boss", "--password-stdin", input=GOOD)
    assert done.exit_code == 2
    assert "--role" in done.output


def test_an_existing_email_is_refused_unless_update(
    users: Invoke, services: Context, factory: sessionmaker[Session]
) -> None:
    users("add", "ann@example.com", "--role", "editor", "--password-stdin", input=GOOD)
    with pytest.raises(InputError, match=r"ANN@example\.com already has an account; add --update"):
        users("add", "ANN@example.com", "--role", "operator", "--password-stdin", input=GOOD)
    before = staff.authenticate(services, "ann@example.com", GOOD)
    assert before.role == "editor"

    done = users(
        "add",
        "ann@example.com",
        "--role",
        "operator",
        "--update",
        "--password-stdin",
        input="another long passphrase\n",
    )
    assert done.output == "ann@example.com: updated (role and password), operator\n"
    after = staff.authenticate(services, "ann@example.com", "another long passphrase")
    assert after.role == "operator"
    assert after.session_version == before.session_version + 1  # older sessions end

    # --update without a password keeps it (and the sessions)
    kept_done = users("add", "ann@example.com", "--role", "editor", "--update", "--no-password")
    assert kept_done.output == "ann@example.com: updated (role), editor\n"
    kept = staff.authenticate(services, "ann@example.com", "another long passphrase")
    assert (kept.role, kept.session_version) == ("editor", after.session_version)


def test_prompt_asks_twice_hidden_and_again_after_a_short_one(
    users: Invoke, services: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_users, "interactive", lambda: True)
    typed = "xyz12\n" + GOOD + "\n" + "typo " + GOOD + "\n" + GOOD + "\n" + GOOD + "\n"
    done = users("add", "bo@example.com", "--role", "editor", input=typed)
    assert done.exit_code == 0, done.output
    assert "password: too short" in done.output
    assert "do not match" in done.output
    assert GOOD not in done.output  # hidden input is not echoed
    assert staff.authenticate(services, "bo@example.com", GOOD).email == "bo@example.com"


def test_no_terminal_and_no_stdin_flag_says_how(users: Invoke) -> None:
    with pytest.raises(InputError, match="pass --password-stdin"):
        users("add", "bo@example.com", "--role", "editor")


def test_token_printed_once_and_stored_as_sha256(
    users: Invoke, services: Context, factory: sessionmaker[Session]
) -> None:
    users("add", "api@example.com", "--role", "editor", "--no-password")
    done = users("token", "api@example.com")
    assert done.exit_code == 0
    token = done.stdout.strip()
    assert token.startswith("nlt_") and len(token) > 40
    assert "cannot be shown again" in done.stderr
    with factory() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (row.token_hash, row.hint)
        assert token.startswith(row.hint)
    assert staff.user_for_token(services, token).email == "api@example.com"
    with pytest.raises(staff.BadLogin):  # a token-only account cannot log in
        staff.authenticate(services, "api@example.com", "")

    assert "1 token revoked" in users("revoke-tokens", "api@example.com").output
    with pytest.raises(staff.BadCredentials):
        staff.user_for_token(services, token)


def test_token_for_an_unknown_email(users: Invoke) -> None:
    with pytest.raises(NotFound, match=r"no staff account for who@example\.com"):
        users("token", "who@example.com")


def test_list_disable_enable(users: Invoke, services: Context) -> None:
    assert "no staff accounts yet" in users("list").output
    users("add", "op@example.com", "--role", "operator", "--password-stdin", input=GOOD)
    token = users("token", "op@example.com").stdout.strip()
    staff.authenticate(services, "op@example.com", GOOD)
    listing = users("list").output.splitlines()
    assert listing[0].split() == ["EMAIL", "ROLE", "LOGIN", "TOKENS", "LAST", "LOGIN"]
    assert listing[1].split()[:4] == ["op@example.com", "operator", "yes", "1"]
    assert re.search(r"\d\d:\d\d [A-Z]+ \([+-]\d\d:\d\d\)$", listing[1])  # zone, offset

    assert "op@example.com: disabled" in users("disable", "op@example.com").output
    with pytest.raises(staff.BadLogin):
        staff.authenticate(services, "op@example.com", GOOD)
    with pytest.raises(staff.BadCredentials):
        staff.user_for_token(services, token)
    assert "disabled" in users("list").output

    users("enable", "op@example.com")
    assert staff.authenticate(services, "op@example.com", GOOD).email == "op@example.com"
    with pytest.raises(staff.BadCredentials):  # revoked at disabling, for good
        staff.user_for_token(services, token)


def test_exit_codes_as_a_process(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    added = run(
        ["users", "add", "x@example.com", "--role", "editor", "--no-password"], tmp_path, **env
    )
    assert added.returncode == 0, added.stderr
    again = run(
        ["users", "add", "x@example.com", "--role", "editor", "--no-password"], tmp_path, **env
    )
    assert again.returncode == 2
    assert again.stderr == (
        "newsletter: error: x@example.com already has an account; "
        "add --update to change its role or password\n"
    )


def test_update_of_a_new_account_adds_it(users: Invoke) -> None:
    done = users("add", "new@example.com", "--role", "editor", "--update", "--no-password")
    assert done.output == "new@example.com: added, editor, no password: API tokens only\n"
