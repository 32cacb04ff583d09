"""Addresses and names as mail needs them, at every entry (subscribers.parse): what is refused
and how it is said, what is stored, and the command line end to end."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import FieldError
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Subscriber
from newsletter.services import Context
from newsletter.services import subscribers as people
from newsletter.subscribers.parse import (
    NAME_LENGTH,
    InvalidEmail,
    address_field,
    clean_name,
    normalize_email,
)
from tests.helpers.cli import run
from tests.helpers.web import submit


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a\x00b@x.example", "U+0000"),
        ("a,b@x.example", "','"),
        ("a>b<c@x.example", "without < >"),
        ("Ann <ann@x.example>", "without < >"),
        ("a b@x.example", "SPACE"),
        ("ann@x.example\r\nBcc: e@evil.example", "invalid"),
        ("ann@localhost", "period"),
        ("ann@x.example.", "period"),
        ("a..b@x.example", "two periods"),
        ("ann@bad_domain.example", "'_'"),
        ("\udcff@x.example", "U+DCFF"),  # a byte the terminal's encoding could not decode
        ("x" * 10_000 + "@x.example", "too long"),
        ("", "empty"),
    ],
)
def test_what_mail_cannot_carry_is_refused_in_one_line(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        address_field(raw)
    message = str(caught.value)
    assert caught.value.field == "email"
    assert message.startswith("email: invalid email ") and reason in message
    assert "\n" not in message and "\r" not in message and len(message) < 300
    assert "Traceback" not in message and "Error(" not in message


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Jo+News@Example.CO.uk ", "jo+news@example.co.uk"),  # as stored before: key unchanged
        ("Zoë@Example.com", "zoë@example.com"),  # a UTF-8 local part (RFC 6531)
        ("jo@Bücher.de", "jo@bücher.de"),  # an IDN domain, in Unicode
        ("jo@xn--bcher-kva.de", "jo@bücher.de"),  # its A-labels name the same address
        ("ｊｏ@ｅｘａｍｐｌｅ.com", "ｊｏ@example.com"),  # fullwidth: the domain maps (UTS 46)
    ],
)
def test_addresses_are_stored_normalized(raw: str, stored: str) -> None:
    assert normalize_email(raw) == stored
    assert normalize_email(stored) == stored


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.emails().map(str),
        st.builds(
            lambda local, domain: f"{local}@{domain}",
            st.text(min_size=1, max_size=20),
            st.sampled_from(["example.com", "bücher.de", "XN--BCHER-KVA.DE", "x", "a..b"]),
        ),
    )
)
def test_any_input_is_an_address_or_one_clear_line(raw: str) -> None:
    """Whatever comes in: a normalized address (a fixed point) or InvalidEmail, one line."""
    try:
        stored = normalize_email(raw)
    except InvalidEmail as exc:
        refusal = str(exc)
        stored = ""
    else:
        refusal = ""
    if refusal:
        assert "\n" not in refusal and refusal.startswith("invalid email ")
        return
    assert normalize_email(stored) == stored
    assert stored == stored.strip() and stored.count("@") == 1
    stored.encode("utf-8")  # storable: no lone surrogates, and no NUL
    assert "\x00" not in stored


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_name_is_stored_on_one_printable_line(raw: str) -> None:
    name = clean_name(raw)
    if name is None:
        return
    assert 0 < len(name) <= NAME_LENGTH and name == name.strip()
    name.encode("utf-8")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name)
    assert not any(c in name for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_a_name_with_nul_and_overrides_is_stored_clean(
    services: Context, factory: sessionmaker[Session]
) -> None:
    """A NUL reaching PostgreSQL's text is an error there: it never gets that far."""
    people.sign_up(services, "ann@example.com", "An\x00n \u202eevil\r\nX", [], source="web")
    with factory() as session:
        row = session.scalars(select(Subscriber)).one()
        assert row.name == "An n evil X"


def test_the_command_line_takes_international_addresses_and_refuses_bad_ones(
    tmp_path: Path,
) -> None:
    """Before: a UTF-8 local part failed in the confirmation ('ascii' codec...), an IDN
    domain was refused, ``a,b@x`` was accepted and ``a>b<c@x`` too."""
    env = {
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'cli.db'}",
        "NEWSLETTER_DATA_DIR": str(tmp_path / "data"),
        "NEWSLETTER_SECRET_KEY": "k",
        "NEWSLETTER_BASE_URL": "https://news.example.org",
    }
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    hostile = "Zoë <ceo@bank.example>, other@evil.example"
    zoe = run(["subscribers", "add", "Zoë@Example.com", "--name", hostile], tmp_path, **env)
    assert zoe.returncode == 0, zoe.stderr
    assert zoe.stdout.strip() == "zoë@example.com: pending; confirmation sent"
    idn = run(["subscribers", "add", "jo@Bücher.de", "--confirmed"], tmp_path, **env)
    assert (idn.returncode, idn.stdout.strip()) == (0, "jo@bücher.de: added")
    for bad in ("a,b@x.example", "a>b<c@x.example", "ann@localhost"):
        refused = run(["subscribers", "add", bad], tmp_path, **env)
        assert refused.returncode == 2
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"newsletter: error: invalid email {bad!r}: ")
    (mail,) = (tmp_path / "data" / "outbox").glob("*.eml")
    message = message_from_string(mail.read_text(encoding="utf-8"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    (to,) = message["To"].addresses
    assert to.addr_spec == "zoë@example.com"
    assert "".join(to.display_name.split()) == "".join(hostile.split())
    exported = run(["subscribers", "export"], tmp_path, **env).stdout
    assert "jo@bücher.de,,,confirmed" in exported and "a,b" not in exported


def test_the_sign_up_form_takes_international_addresses_and_words_refusals(
    client: FlaskClient, transport: MemoryTransport
) -> None:
    """Before: a UTF-8 local part got a 400 quoting Python ('ascii' codec can't encode...)."""
    answer = submit(client, "/subscribe", {"email": "Zoë@Example.com", "name": "Zoë"})
    assert answer.status_code == 200
    assert transport.recipients == ["zoë@example.com"]
    refused = submit(client, "/subscribe", {"email": "a,b@x.example"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "invalid email" in page and "invalid characters before the @-sign" in page
    assert "codec" not in page and "Traceback" not in page
