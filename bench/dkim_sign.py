"""Per-signature cost of DKIM: dkimpy as shipped vs ours (OpenSSL through ``cryptography``).

The all-sections variant of bench/compose.py's 10-review issue (about 38 KiB per message) is
prepared once; per recipient, ``MessageTemplate.build`` alone (the baseline), then ``build``
followed by each signer, over ``--messages`` recipients in one thread:

- dkimpy ``dkim.sign``, rsa-sha256 (RSA 2048) and ed25519-sha256 (PyNaCl), relaxed/relaxed,
  our header list;
- ``DkimSigner.sign`` with RSA 2048, and with RSA 2048 plus Ed25519 (two fields).

A signature's cost is the signed time minus the baseline. Then where one of our RSA
signatures' time goes, each step timed alone: splitting the message, canonicalizing and
hashing the body, canonicalizing the signed fields, the RSA and the Ed25519 key operations;
and, for comparison, dkimpy's relaxed body canonicalization and what ``openssl speed`` says an
RSA 2048 signature costs on this machine (skipped with ``--no-openssl``). Prints the ratios and
the load average, since other processes slow every figure here.

    .venv/bin/python bench/dkim_sign.py [--messages 2000] [--no-openssl]

(Not bench/dkim.py: a script's directory comes first on sys.path, so that name would hide the
dkim package it measures, at run time and for mypy.)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dkim
from compose import BRAND, FROM, LIST_ID, content, recipient
from cryptography.hazmat.primitives import serialization
from dkim.canonicalization import Relaxed

from newsletter.compose.message import MessageTemplate
from newsletter.compose.render import render_variant
from newsletter.mail.dkim import SIGNED, DkimSigner, generate_ed25519_key, generate_key
from newsletter.mail.dkim_canon import relaxed_body, relaxed_field, split_message

DOMAIN, SELECTOR, ED_SELECTOR = "reviews.example.com", "news2026", "news2026e"
Sign = Callable[[bytes], bytes]


def per_call(fn: Callable[[], object], n: int) -> float:
    """Seconds per call of ``fn``, the best of three runs of ``n`` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def per_message(template: MessageTemplate, n: int, sign: Sign | None) -> float:
    """Seconds per message to build (and sign, with ``sign``) ``n`` messages; best of 3."""
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(3):
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
        best = min(best, (time.perf_counter() - start) / n)
    return best


def dkimpy_signer(key: bytes, algorithm: bytes, selector: str) -> Sign:
    def sign(message: bytes) -> bytes:
        names = [name.lower() for name, _ in dkim.DKIM(message).headers]
        include = [x.encode() for x in SIGNED for _ in range(names.count(x.encode()) + 1)]
        field: bytes = dkim.sign(
            message,
            selector.encode(),
            DOMAIN.encode(),
            key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
            signature_algorithm=algorithm,
        )
        return field + message

    return sign


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
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rsa_pem, ed_pem = generate_key(2048), generate_ed25519_key()
    ours = DkimSigner(DOMAIN, SELECTOR, rsa_pem)
    dual = DkimSigner(DOMAIN, SELECTOR, rsa_pem, ed25519_selector=ED_SELECTOR, ed25519_key=ed_pem)
    seed = serialization.load_pem_private_key(ed_pem, None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    template = MessageTemplate.prepare(
        render_variant(content(), 0, BRAND),
        from_address=FROM,
        list_id=LIST_ID,
        feedback_id=f"2026-W48:digest:{DOMAIN}",
    )
    n, slow = args.messages, max(args.messages // 8, 50)
    signers: list[tuple[str, Sign, int]] = [
        ("dkimpy rsa-sha256", dkimpy_signer(rsa_pem, b"rsa-sha256", SELECTOR), slow),
        (
            "dkimpy ed25519-sha256",
            dkimpy_signer(base64.b64encode(seed), b"ed25519-sha256", ED_SELECTOR),
            slow,
        ),
        ("ours rsa-sha256", ours.sign, n),
        ("ours ed25519 + rsa", dual.sign, n),
    ]
    per_message(template, 100, ours.sign)  # warm up
    build = per_message(template, n, None)
    costs = {name: per_message(template, count, sign) - build for name, sign, count in signers}

    message = template.build(
        recipient(0),
        to_name="Reader 0",
        message_id=f"<nl.2026-W48.1.0@{DOMAIN}>",
        date=datetime.now(UTC),
        unsubscribe_mailto=f"unsubscribe@{DOMAIN}",
    )
    fields, body = split_message(message)
    canonical = relaxed_body(body)
    rsa_key, ed_key = ours._keys[0], dual._keys[0]
    data = b"x" * 700  # about the size of our canonical signed fields
    steps = [
        (
            "CRLF check (two counts)",
            per_call(lambda: message.count(b"\n") == message.count(b"\r\n"), n),
        ),
        ("split header fields / body", per_call(lambda: split_message(message), n)),
        ("body: relaxed canonicalization", per_call(lambda: relaxed_body(body), n)),
        ("body: sha256", per_call(lambda: hashlib.sha256(canonical).digest(), n)),
        ("signed fields: relaxed", per_call(lambda: [relaxed_field(k, v) for k, v in fields], n)),
        ("RSA 2048 sign (OpenSSL)", per_call(lambda: rsa_key.sign(data), n // 4)),
        ("Ed25519 sign (OpenSSL)", per_call(lambda: ed_key.sign(data), n)),
    ]
    dkimpy_body = per_call(lambda: Relaxed.canonicalize_body(body), max(n // 20, 20))

    print(f"message                 {len(message) / 1024:.1f} KiB, relaxed/relaxed; load {load}")
    print(f"build (baseline)        {build * 1000:.3f} ms/message")
    for name, cost in costs.items():
        print(
            f"{name:<24}{cost * 1000:7.3f} ms per message signed "
            f"({1 / (build + cost):,.0f} msg/s per core with build)"
        )
    rsa_ratio = costs["dkimpy rsa-sha256"] / costs["ours rsa-sha256"]
    print(f"ratio rsa-sha256        dkimpy / ours = {rsa_ratio:.1f}x")
    ed_only = costs["ours ed25519 + rsa"] - costs["ours rsa-sha256"]
    print(
        f"ratio ed25519-sha256    dkimpy / ours = {costs['dkimpy ed25519-sha256'] / ed_only:.1f}x "
        f"(ours: the second field adds {ed_only * 1000:.3f} ms)"
    )
    print("where one of our signatures' time goes (each step timed alone):")
    for name, seconds in steps:
        print(f"  {name:<32}{seconds * 1000:8.4f} ms")
    print(f"  {'(dkimpy relaxed body, for scale)':<32}{dkimpy_body * 1000:8.4f} ms")
    if not args.no_openssl:
        c_sign = openssl_sign_time()
        if c_sign is not None:
            print(
                f"openssl speed rsa2048   {c_sign * 1000:.4f} ms per signature on this machine now"
            )


if __name__ == "__main__":
    main()
