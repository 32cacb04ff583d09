"""Importing a subscriber CSV: a file is not consent (its status column confirms nobody), a file
that cannot be read to its end imports nothing, and any bytes give a stored import or one clear
error (a property test, on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.errors import InputError
from newsletter.models import (
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.services import Context
from newsletter.services import subscribers as people
from newsletter.subscribers.parse import parse_subscribers
from tests.helpers.factories import subscriber as add_subscriber

S = SubscriberStatus
FILE = (
    b"email,name,status\n"
    b"ann@example.com,Ann,confirmed\n"
    b"bo@example.com,Bo,pending\n"
    b"cy@example.com,Cy,\n"
    b"di@example.com,Di,unsubscribed\n"
    b"ed@example.com,Ed,bounced\n"
    b"fay@example.com,Fay,complained\n"
)


def stored(factory: sessionmaker[Session]) -> dict[str, tuple[S, SuppressionReason | None]]:
    with factory() as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.status, Suppression.reason).outerjoin(
                Suppression, Suppression.email_key == Subscriber.email_key
            )
        )
        return {email: (status, reason) for email, status, reason in rows}


def test_a_status_column_confirms_nobody_without_the_operators_word(
    services: Context, factory: sessionmaker[Session]
) -> None:
    """Before: ``confirmed`` in the file made a confirmed (mailable) subscriber, bypassing
    double opt-in. Now only --confirmed says consent was gathered; the column can keep a row
    pending or say that an address left, which suppresses it."""
    done = people.import_csv(services, FILE, "people.csv", confirmed=False)
    assert (done.counts.accepted, done.counts.held_pending) == (6, 1)
    left = {
        "di@example.com": (S.UNSUBSCRIBED, SuppressionReason.UNSUBSCRIBED),
        "ed@example.com": (S.BOUNCED, SuppressionReason.HARD_BOUNCE),
        "fay@example.com": (S.COMPLAINED, SuppressionReason.COMPLAINT),
    }
    assert stored(factory) == {
        "ann@example.com": (S.PENDING, None),
        "bo@example.com": (S.PENDING, None),
        "cy@example.com": (S.PENDING, None),
        **left,
    }
    # the same file with --confirmed: confirmed where the file does not say otherwise
    again = people.import_csv(services, FILE, "people.csv", confirmed=True)
    assert again.counts.suppressed == 3  # those who left are not brought back
    assert stored(factory) == {
        "ann@example.com": (S.CONFIRMED, None),
        "bo@example.com": (S.PENDING, None),  # the file says this one never confirmed
        "cy@example.com": (S.CONFIRMED, None),
        **left,
    }


def test_an_import_never_withdraws_consent_nor_undoes_a_leaving(
    services: Context, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        add_subscriber(session, "ann@example.com", status=S.CONFIRMED)
        add_subscriber(session, "bo@example.com", status=S.UNSUBSCRIBED)  # left, no entry
        add_subscriber(session, "cy@example.com", status=S.PENDING)
    data = b"email,status\nann@example.com,pending\nbo@example.com,confirmed\ncy@example.com,\n"
    people.import_csv(services, data, "again.csv", confirmed=True)
    assert stored(factory) == {
        "ann@example.com": (S.CONFIRMED, None),
        "bo@example.com": (S.UNSUBSCRIBED, None),
        "cy@example.com": (S.CONFIRMED, None),  # pending, and the operator vouches for it
    }


def test_the_command_line_says_who_was_held_pending(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(FILE)
    result = cli("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert "1 marked confirmed in the file were imported as pending" in result.stdout
    assert "pass --confirmed" in result.stdout


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b'email,name\nann@example.com,Ann\nbo@example.com,"Bo\ncy@example.com,Cy\n',
            'people.csv: line 3: a quoted field is never closed (its opening " runs to the end '
            "of the file, line 4); nothing imported",
        ),
        (
            b'email,name\nann@example.com,Ann\nbo@example.com,"Bo\ncy@example.com,"Cy",x\n',
            "people.csv: line 3: malformed CSV: a quoted field runs on to line 4",
        ),
        (
            b"email,name\nann@example.com,Ann\n" + b"x" * 5000 + b"\nbo@example.com,B\x00o\n",
            "people.csv: line 4: a NUL byte; not a text CSV file",
        ),
    ],
)
def test_a_file_that_cannot_be_read_to_its_end_imports_nothing(
    services: Context, factory: sessionmaker[Session], data: bytes, said: str
) -> None:
    """Before: the open quote swallowed every later row into one name, silently, and the rows
    before it were imported."""
    with pytest.raises(InputError) as caught:
        people.import_csv(services, data, "people.csv", confirmed=True)
    assert str(caught.value).startswith(said)
    assert stored(factory) == {}


def test_a_quoting_error_within_one_line_rejects_that_row_only(services: Context) -> None:
    data = b'email,name\nann@example.com,"Ann" Lee\nbo@example.com,Bo\n'
    done = people.import_csv(services, data, "people.csv", confirmed=False)
    assert [str(r) for r in done.parsed.rejected] == [
        "line 2: malformed_csv (text after a closing quote (a quote inside a quoted field is "
        'written ""))'
    ]
    assert done.counts.accepted == 1


def test_a_long_file_name_fits_the_consent_source(
    services: Context, factory: sessionmaker[Session]
) -> None:
    """PostgreSQL refuses a value longer than the column (consent_source, 64): the source
    is cut to fit, and cleaned like any text."""
    name = "/imports/" + "very-long-folder-name/" * 8 + "people\udcff.csv"
    people.import_csv(services, FILE, name, confirmed=True)
    with factory() as session:
        sources = set(session.scalars(select(Subscriber.consent_source)))
    assert all(s is None or (len(s) <= 64 and s.startswith("import:/imports/")) for s in sources)


# -- any input -------------------------------------------------------------------------------
CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['"', '""', "\n", "\r\n", ",", ";", "\x00", "=1+1", " ", "é", "\ufeff"]),
)
EMAIL = st.one_of(
    st.emails().map(str),
    st.sampled_from(["Ann@Example.com", "zoë@bücher.de", "jo@xn--bcher-kva.de", "a,b@x.example"]),
    CELL,
)
STATUS = st.sampled_from(["", "confirmed", "pending", "unsubscribed", "bounced", "vip", '"'])
ROWS = st.lists(st.tuples(EMAIL, CELL, CELL, STATUS), max_size=8)


def csv_bytes(rows: list[tuple[str, str, str, str]], raw: bool, encoding: str) -> bytes:
    """A CSV of the rows: written by a CSV writer, or joined raw (quotes left unbalanced)."""
    header = "email,name,categories,status"
    if raw:
        text = "\n".join([header] + [",".join(row) for row in rows]) + "\n"
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header.split(","))
        writer.writerows(rows)
        text = out.getvalue()
    return text.encode(encoding, errors="replace")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=ROWS,
    raw=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]),
    confirmed=st.booleans(),
)
def test_any_csv_is_imported_whole_or_refused_in_one_line(
    services: Context,
    factory: sessionmaker[Session],
    rows: list[tuple[str, str, str, str]],
    raw: bool,
    encoding: str,
    confirmed: bool,
) -> None:
    with transaction(factory) as session:
        for table in (Event, Suppression, Subscriber):
            session.execute(delete(table))
    data = csv_bytes(rows, raw, encoding)
    try:
        done = people.import_csv(services, data, "any.csv", confirmed=confirmed)
    except InputError as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert "\n" not in refusal and refusal.startswith("any.csv: ")
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        return
    accepted = {row.email for row in done.parsed.accepted}
    counts = done.counts
    assert counts.accepted + counts.updated + counts.unchanged + counts.suppressed == len(accepted)
    with factory() as session:
        subscribers = session.scalars(select(Subscriber)).all()
        assert {s.email for s in subscribers} <= accepted
        assert len(subscribers) == counts.accepted
        for s in subscribers:
            assert s.email == s.email_key and "\x00" not in (s.name or "")
            if not confirmed:
                assert s.status is not S.CONFIRMED


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people_=st.lists(
        st.tuples(
            st.one_of(
                st.emails().map(str),
                st.sampled_from(["-x@example.com", "=a@example.com", "'=b@example.com"]),
            ),
            st.one_of(st.text(max_size=30), st.sampled_from(["=SUM(A1)", "'=x", "@y", "-"])),
        ),
        max_size=6,
    )
)
def test_an_export_reads_back_as_it_was_written(
    services: Context,
    factory: sessionmaker[Session],
    people_: list[tuple[str, str]],
) -> None:
    """Formula-like cells are neutralised by a leading ' on export and restored on import
    (before, ``-x@example.com`` came back as the address ``'-x@example.com``)."""
    with transaction(factory) as session:
        for table in (Event, Suppression, Subscriber):
            session.execute(delete(table))
    for email, name in people_:
        try:
            people.add_confirmed(services, email, name, "")
        except InputError:  # hypothesis' addresses are RFC 5322's, wider than mail's
            continue
    with factory() as session:
        before = {(s.email, s.name) for s in session.scalars(select(Subscriber))}
    out = io.StringIO()
    people.export_csv(services, out)
    parsed = parse_subscribers(out.getvalue().encode(), "export.csv")
    assert parsed.rejected == []
    assert {(row.email, row.name) for row in parsed.accepted} == before
