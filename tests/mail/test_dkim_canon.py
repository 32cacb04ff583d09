"""Our relaxed canonicalization, field parsing and folding against dkimpy's, property-tested.

dkimpy is the reference: its canonicalization is the RFC text written as regular expressions,
and receivers' verifiers agree with it. Inputs are built from the pieces that matter (spaces,
tabs, runs of them, line ends, folds, bare CRs, UTF-8, empty lines at the end), so that
hypothesis finds the corners rather than random noise. Bare LF is left out: the signer
refuses any message with one.
"""

from __future__ import annotations

from types import SimpleNamespace

import dkim
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.mail.dkim import SIGNED, DkimSigner, generate_key
from newsletter.mail.dkim_canon import fold, relaxed_body, relaxed_field, split_message

CRLF = b"\r\n"
DOMAIN, SELECTOR = "reviews.example.com", "canon"
KEY = generate_key(1024)  # the smallest allowed: dkimpy's own RSA is slow

text_piece = st.sampled_from(
    [b"a", b"Zo\xc3\xab", b"=20", b"=", b" ", b"  ", b"   ", b"\t", b" \t ", b"\r", b"<p>", b":"]
)
line = st.lists(text_piece, max_size=12).map(b"".join)
body = st.builds(
    lambda lines, end, empty: CRLF.join(lines) + end + CRLF * empty,
    st.lists(line, max_size=12),
    st.sampled_from([b"", CRLF, b" ", b"\t" + CRLF]),
    st.integers(0, 3),
)
value = st.lists(
    st.sampled_from([b"x", b"=?utf-8?q?Zo=C3=AB?=", b" ", b"  ", b"\t", b"\r\n ", b"\r\n\t", b";"]),
    max_size=10,
).map(b"".join)
name = st.sampled_from(
    [b"From", b"FROM", b"to", b"Subject", b"Reply-To", b"Feedback-ID", b"X-Mailer", b"List-Id"]
)


def dkimpy_body(text: bytes) -> bytes:
    """dkimpy's relaxed body of ``text`` as SMTP delivers it: ending in CRLF."""
    delivered = text if not text or text.endswith(CRLF) else text + CRLF
    canonical: bytes = Relaxed.canonicalize_body(delivered)
    return canonical


@given(body)
@settings(max_examples=400)
def test_relaxed_body_is_dkimpys(text: bytes) -> None:
    assert relaxed_body(text) == dkimpy_body(text)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        CRLF,
        CRLF * 3,
        b" \r\n\t\r\n",
        b"a  b \t c\t\r\n\r\n",
        b"x  ",
        b"  " * 200 + CRLF,  # many runs: the regex pass takes over
        b"a  b\r\n" * 100,
    ],
)
def test_relaxed_body_corners(text: bytes) -> None:
    assert relaxed_body(text) == dkimpy_body(text)


def test_where_dkimpy_is_not_what_a_receiver_computes() -> None:
    """A body without a final CRLF reaches the receiver with one (SMTP adds it): we hash
    that, dkimpy hashes its trailing space."""
    assert relaxed_body(b"x  ") == b"x\r\n"
    assert Relaxed.canonicalize_body(b"x  ") == b"x \r\n"


@given(name, value)
@settings(max_examples=300)
def test_relaxed_field_is_dkimpys(field_name: bytes, field_value: bytes) -> None:
    ((cname, cvalue),) = Relaxed.canonicalize_headers([(field_name, field_value + CRLF)])
    assert relaxed_field(field_name, field_value) == cname + b":" + cvalue


@given(st.lists(st.tuples(name, value), max_size=8), body)
@settings(max_examples=200)
def test_split_message_is_dkimpys_parse(fields: list[tuple[bytes, bytes]], text: bytes) -> None:
    message = b"".join(n + b":" + v + CRLF for n, v in fields) + CRLF + text
    headers, parsed_body = dkim.rfc822_parse(message)
    ours, our_body = split_message(message)
    assert [(n, v + CRLF) for n, v in ours] == [tuple(h) for h in headers]
    assert our_body == parsed_body


@pytest.mark.parametrize(
    "message", [b" folded: first\r\n\r\nbody", b"no colon here\r\n\r\nbody", b"Bad Name: x\r\n"]
)
def test_a_line_that_is_no_field_is_refused(message: bytes) -> None:
    with pytest.raises(ValueError, match="not a header field"):
        split_message(message)


@given(
    st.lists(
        st.sampled_from([b"a=1", b"; ", b" : ", b"bh=" + b"Q" * 44, b"x" * 80, b" ", b"h=from"]),
        max_size=30,
    ).map(b"".join),
    st.booleans(),
)
@settings(max_examples=300)
def test_fold_is_dkimpys(tags: bytes, ends_in_crlf: bool) -> None:
    text = tags + (CRLF if ends_in_crlf else b"")
    assert fold(text, 14) == dkim.fold(text, namelen=14, linesep=CRLF)


@given(st.lists(st.tuples(name, value), max_size=8), body, st.integers(0, 2**33))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_whole_signatures_are_dkimpys(
    fields: list[tuple[bytes, bytes]], text: bytes, now: int
) -> None:
    """Any message with a From: our field equals dkimpy's for the same t=, byte for byte."""
    fields = [(b"From", b" Reviews <digest@reviews.example.com>"), *fields]
    message = b"".join(n + b":" + v + CRLF for n, v in fields) + CRLF + text
    if not text.endswith(CRLF):
        message += CRLF  # as SMTP delivers it (see test_where_dkimpy_is_...)
    present = [n.lower() for n, _ in fields]
    include = [n.encode() for n in SIGNED for _ in range(present.count(n.encode()) + 1)]
    clock = SimpleNamespace(time=lambda: now)
    real = dkim.time
    dkim.time = clock  # dkimpy reads t= from time.time()
    try:
        shipped = dkim.sign(
            message,
            SELECTOR.encode(),
            DOMAIN.encode(),
            KEY,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
    finally:
        dkim.time = real
    assert SIGNER.sign(message, timestamp=now) == shipped + message


SIGNER = DkimSigner(DOMAIN, SELECTOR, KEY)


@pytest.mark.parametrize(
    "domain",
    ["a.example", "mail." + "x" * 60 + ".example.com", ".".join(["abcdefghij" * 6] * 3)],
    ids=["short", "long", "no-space-fits"],
)
def test_reused_folds_are_dkimpys(domain: str) -> None:
    """The signer reuses where a field is cut (per t= and h=); with a d= long enough to be
    cut without a space, and across messages and seconds, it still folds as dkimpy does."""
    signer = DkimSigner(domain, SELECTOR, KEY)
    for now, extra in [(1, b""), (1, b"More text.\r\n"), (2, b"")]:
        message = b"From: a@" + domain.encode() + b"\r\nTo: b@example.com\r\n\r\nHi\r\n" + extra
        include = [b"from", b"from", b"to", b"to"] + [
            n.encode() for n in SIGNED if n not in ("from", "to")
        ]
        real = dkim.time
        dkim.time = SimpleNamespace(time=lambda now=now: now)
        try:
            shipped = dkim.sign(
                message,
                SELECTOR.encode(),
                domain.encode(),
                KEY,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=include,
            )
        finally:
            dkim.time = real
        assert signer.sign(message, timestamp=now) == shipped + message
