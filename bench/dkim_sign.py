"""Per-message cost of DKIM signing: building a digest vs building and signing it.

The all-sections variant of bench/compose.py's 10-review issue (about 38 KiB per message) is
prepared once; then, per recipient, ``MessageTemplate.build`` alone (the baseline) and
``build`` followed by ``DkimSigner.sign`` (RSA 2048, relaxed/relaxed, key made by
``openssl genrsa``), each over ``--messages`` recipients in one thread. Then where one
signature's time goes, each step timed alone with dkimpy's own functions: parsing the headers,
canonicalizing and hashing the body, selecting and hashing the signed header fields, parsing
the PEM key (dkimpy does it on every call) and the RSA private-key operation; the remainder is
dkimpy's own bookkeeping. Also reports how dkimpy does RSA and, for comparison, what OpenSSL's C
code takes for the same operation (``openssl speed rsa2048``; skipped with ``--no-openssl``).

    .venv/bin/python bench/dkim_sign.py [--messages 2000] [--no-openssl]

(Not bench/dkim.py: a script's directory comes first on sys.path, so that name would hide the
dkim package it measures, at run time and for mypy.)
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dkim
import dkim.crypto
from compose import BRAND, FROM, LIST_ID, content, recipient
from dkim.canonicalization import CanonicalizationPolicy

from newsletter.compose.message import MessageTemplate
from newsletter.compose.render import render_variant
from newsletter.mail.dkim import SIGNED, DkimSigner, generate_key, gmp_backed

DOMAIN, SELECTOR = "reviews.example.com", "news2026"


def per_call(fn: Callable[[], object], n: int) -> float:
    """Seconds per call of ``fn``, the best of three runs of ``n`` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def per_message(template: MessageTemplate, n: int, sign: Callable[[bytes], bytes] | None) -> float:
    now = datetime.now(UTC)
    start = time.perf_counter()
    for i in range(n):
        message = template.build(
            recipient(i),
            to_name=f"Reader {i}",
            message_id=f"<nl.2026-W48.1.{i}@{DOMAIN}>",
            date=now,
            unsubscribe_mailto=f"unsubscribe@{DOMAIN}",
        )
        if sign is not None:
            sign(message)
    return (time.perf_counter() - start) / n


def breakdown(message: bytes, pk: dict[str, Any], n: int) -> list[tuple[str, float]]:
    """Seconds per message of each step of one of our signatures, timed alone (``pk``: the
    key as our signer hands it to dkimpy)."""
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    parsed = dkim.DKIM(message)
    body = policy.canonicalize_body(parsed.body)
    names = [name.lower() for name, _ in parsed.headers]
    include = [x.encode() for x in SIGNED for _ in range(names.count(x.encode()) + 1)]
    digest = hashlib.sha256(b"headers")

    def headers() -> None:
        h = hashlib.sha256()
        for name, value in dkim.select_headers(
            policy.canonicalize_headers(parsed.headers), include
        ):
            h.update(name + b":" + value)

    return [
        ("parse the message", per_call(lambda: dkim.DKIM(message), n)),
        ("body: canonicalize", per_call(lambda: policy.canonicalize_body(parsed.body), n)),
        ("body: sha256", per_call(lambda: hashlib.sha256(body).digest(), n)),
        ("header fields: select, hash", per_call(headers, n)),
        (
            "RSA private-key operation",
            per_call(lambda: dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, pk), n),
        ),
    ]


def openssl_sign_time() -> float | None:
    """Seconds per RSA 2048 signature in OpenSSL's C code, from ``openssl speed``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    done = subprocess.run(
        [openssl, "speed", "-seconds", "1", "rsa2048"], capture_output=True, text=True, check=False
    )
    match = re.search(r"^rsa\s+2048 bits\s+([0-9.]+)s", done.stdout, re.MULTILINE)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-openssl", action="store_true", help="skip `openssl speed`")
    args = parser.parse_args()
    key = generate_key(2048)
    signer = DkimSigner(DOMAIN, SELECTOR, key)
    assert key != signer._pem  # openssl's PEM (64-column lines) is not the one registered

    def shipped(message: bytes) -> bytes:
        """dkimpy as shipped: the PEM parsed on every call, RSA on Python ints."""
        include = [x.encode() for x in SIGNED] + [b"from"]
        field: bytes = dkim.sign(
            message, SELECTOR.encode(), DOMAIN.encode(), key, include_headers=include
        )
        return field + message

    template = MessageTemplate.prepare(
        render_variant(content(), 0, BRAND),
        from_address=FROM,
        list_id=LIST_ID,
        feedback_id=f"2026-W48:digest:{DOMAIN}",
    )
    per_message(template, 100, signer.sign)  # warm up
    build = per_message(template, args.messages, None)
    plain = per_message(template, max(args.messages // 4, 50), shipped)
    signed = per_message(template, args.messages, signer.sign)
    sign = signed - build
    message = template.build(
        recipient(0),
        to_name="Reader 0",
        message_id=f"<nl.2026-W48.1.0@{DOMAIN}>",
        date=datetime.now(UTC),
        unsubscribe_mailto=f"unsubscribe@{DOMAIN}",
    )
    ours = dkim.parse_pem_private_key(signer._pem)  # what our signer gives dkimpy
    n = max(args.messages // 10, 50)
    steps = breakdown(message, ours, n)
    python_ints = dkim.crypto.parse_pem_private_key(key)
    digest = hashlib.sha256(b"headers")
    rsa_ints = per_call(lambda: dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, python_ints), n)
    print(
        f"message                 {len(message) / 1024:.1f} KiB, RSA {signer.bits}, relaxed/relaxed"
    )
    print(
        f"build (baseline)        {build * 1000:.4f} ms/message ({1 / build:,.0f} msg/s per core)"
    )
    print(
        f"build + dkimpy.sign     {plain * 1000:.4f} ms/message ({1 / plain:,.0f} msg/s per core)"
        " dkimpy as shipped: Python ints, PEM parsed per call"
    )
    print(
        f"build + DkimSigner      {signed * 1000:.4f} ms/message ({1 / signed:,.0f} msg/s per core)"
        f" ours: key parsed once, {'GMP integers' if gmp_backed(signer) else 'Python ints'}"
    )
    print(f"ours / shipped          {plain / signed:.1f}x faster")
    print(f"ratio                   {signed / build:,.1f}x the unsigned build")
    print("where one of our signatures' time goes (each step timed alone):")
    for name, seconds in steps:
        print(f"  {name:<30}{seconds * 1000:8.4f} ms  {seconds / sign:6.1%}")
    rest = sign - sum(seconds for _, seconds in steps)
    print(f"  {'the rest (dkimpy bookkeeping)':<30}{rest * 1000:8.4f} ms  {rest / sign:6.1%}")
    rsa = dict(steps)["RSA private-key operation"]
    print(
        f"RSA on Python ints      {rsa_ints * 1000:.4f} ms (dkimpy's crypto.py as shipped), "
        f"{rsa_ints / rsa:.1f}x our GMP-backed key"
    )
    if not args.no_openssl:
        c_sign = openssl_sign_time()
        if c_sign is not None:
            print(
                f"OpenSSL RSA 2048 sign   {c_sign * 1000:.4f} ms (openssl speed), "
                f"{rsa / c_sign:.1f}x faster than ours"
            )


if __name__ == "__main__":
    main()
