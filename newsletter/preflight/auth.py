"""Authentication of the sender: DKIM verifies, and SPF and DMARC are published and aligned.

DKIM (:func:`dkim_findings`): every signature on the sample message is verified by dkimpy
against the key published in DNS for its selector; when DNS cannot be asked, against the
configured key (``DkimSigner.txt_records``), and the finding says so. A missing or different
published key is an error, as is a signature whose ``h=`` leaves out a field that receivers
or feedback loops rely on (:data:`MUST_SIGN`). SPF and DMARC (:func:`policy_findings`) are
warnings only: the records are the DNS administrator's, not ours to fix in the issue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dkim
from dkim.util import parse_tag_value

from newsletter.preflight.dns import DnsUnavailable, TxtLookup, organizational
from newsletter.preflight.findings import Finding

MUST_SIGN = ("from", "subject", "list-unsubscribe", "list-unsubscribe-post", "feedback-id")


def _signatures(message: bytes) -> list[dict[bytes, bytes]]:
    parsed: Any = dkim.DKIM(message)
    return [
        parse_tag_value(value)
        for name, value in parsed.headers
        if name.lower() == b"dkim-signature"
    ]


def _verify(message: bytes, index: int, records: Mapping[str, str]) -> bool:
    def dnsfunc(name: bytes | str, timeout: int = 5) -> bytes | None:
        key = (name.decode() if isinstance(name, bytes) else name).rstrip(".").lower()
        found = records.get(key)
        return found.encode() if found is not None else None

    checker: Any = dkim.DKIM(message)
    try:
        return bool(checker.verify(idx=index, dnsfunc=dnsfunc))
    except Exception:  # dkimpy raises its own types for keys it cannot use
        return False


def dkim_findings(
    message: bytes | None, configured: Mapping[str, str], lookup: TxtLookup, from_domain: str
) -> list[Finding]:
    """``message``: the sample as it goes out, signed (None: no signing is configured);
    ``configured``: DNS name -> TXT record of each configured key; ``from_domain``: the
    domain of its From address (``d=`` must align with it)."""
    if message is None or not configured:
        return [
            Finding(
                "dkim",
                "warning",
                "messages are not DKIM-signed",
                "make a key with `newsletter dkim keygen`, set NEWSLETTER_DKIM_SELECTOR and "
                "NEWSLETTER_DKIM_PRIVATE_KEY, publish it (Gmail and Yahoo require DKIM of bulk "
                "senders)",
            )
        ]
    out: list[Finding] = []
    for index, tags in enumerate(_signatures(message)):
        selector, domain = tags.get(b"s", b"?").decode(), tags.get(b"d", b"?").decode()
        algorithm = tags.get(b"a", b"?").decode()
        name = f"{selector}._domainkey.{domain}".lower()
        label = f"{algorithm} signature (s={selector}, d={domain})"
        signed = {h.strip().lower() for h in tags.get(b"h", b"").decode().split(":")}
        missing = [h for h in MUST_SIGN if h not in signed]
        if missing:
            out.append(
                Finding(
                    "dkim",
                    "error",
                    f"the {label} does not cover {', '.join(missing)}",
                    "receivers ignore unsigned List-Unsubscribe fields; report this as a bug",
                )
            )
        expected = configured.get(name)
        try:
            published = lookup(name)
        except DnsUnavailable as exc:
            ok = expected is not None and _verify(message, index, {name: expected})
            out.append(
                Finding(
                    "dkim",
                    "note" if ok else "error",
                    f"the {label} "
                    + ("verifies" if ok else "does not verify")
                    + f" against the configured key; DNS not checked ({exc})",
                    "" if ok else "check NEWSLETTER_DKIM_PRIVATE_KEY; report this as a bug",
                )
            )
            continue
        fix = f"publish this TXT record at {name}: {expected}" if expected else ""
        if not published:
            out.append(Finding("dkim", "error", f"no DKIM key is published at {name}", fix))
        elif _verify(message, index, {name: published[0]}):
            out.append(Finding("dkim", "note", f"the {label} verifies against DNS"))
        else:
            out.append(
                Finding(
                    "dkim",
                    "error",
                    f"the {label} does not verify against the key published at {name}: it is "
                    "not the key this sender signs with",
                    fix,
                )
            )
        if organizational(domain) != organizational(from_domain):
            out.append(
                Finding(
                    "dkim",
                    "warning",
                    f"d={domain} does not align with the From domain (DMARC 3.1.1)",
                    "sign with the From domain",
                )
            )
    return out


def policy_findings(from_domain: str, envelope_domain: str, lookup: TxtLookup) -> list[Finding]:
    """SPF at the envelope sender's domain (the return path) and DMARC at the From domain."""
    try:
        spf = [r for r in lookup(envelope_domain) if r.lower().startswith("v=spf1")]
        dmarc = [r for r in lookup(f"_dmarc.{from_domain}") if r.startswith("v=DMARC1")]
        org = organizational(from_domain)
        if not dmarc and org != from_domain:
            dmarc = [r for r in lookup(f"_dmarc.{org}") if r.startswith("v=DMARC1")]
    except DnsUnavailable as exc:
        return [Finding("spf", "note", f"SPF and DMARC not checked: {exc}")]
    out: list[Finding] = []
    if not spf:
        out.append(
            Finding(
                "spf",
                "warning",
                f"no SPF record at {envelope_domain} (the return path's domain)",
                f"publish a TXT record at {envelope_domain} naming the servers that send for it,"
                " e.g. `v=spf1 mx -all`",
            )
        )
    elif len(spf) > 1:
        out.append(
            Finding(
                "spf",
                "warning",
                f"{len(spf)} SPF records at {envelope_domain}: receivers treat that as an "
                "error (RFC 7208 4.5)",
                "merge them into one",
            )
        )
    else:
        out.append(Finding("spf", "note", f"SPF at {envelope_domain}: {spf[0]}"))
    if organizational(envelope_domain) != org:
        out.append(
            Finding(
                "spf",
                "warning",
                f"the return path's domain {envelope_domain} does not align with the From "
                f"domain {from_domain}: SPF cannot pass DMARC (RFC 7489 3.1.2)",
                "use a bounce address under the From domain (NEWSLETTER_BOUNCE_ADDRESS)",
            )
        )
    if not dmarc:
        out.append(
            Finding(
                "dmarc",
                "warning",
                f"no DMARC record at _dmarc.{from_domain}; Gmail and Yahoo require one of bulk "
                "senders",
                f"publish a TXT record at _dmarc.{from_domain}: `v=DMARC1; p=none; "
                f"rua=mailto:dmarc@{from_domain}`",
            )
        )
    else:
        out.append(Finding("dmarc", "note", f"DMARC at _dmarc.{from_domain}: {dmarc[0]}"))
    return out
