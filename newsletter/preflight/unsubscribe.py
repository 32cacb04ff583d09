"""Does one-click unsubscribe work? The check POSTs, as a mail client would (RFC 8058 3.2), to
the https URL of a sample message's ``List-Unsubscribe``, and expects a 2xx without redirect.

The sample is addressed to nobody (subscriber 0, as previews are), and the web app answers
such a link as a dry run: it checks the signature and the route, and unsubscribes no one.
"""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import SMTP

import httpx

from newsletter.preflight.findings import Finding

_URI = re.compile(r"<([^>]*)>")


def one_click_url(message: bytes) -> tuple[str | None, bool]:
    """(the first https URI of List-Unsubscribe, whether List-Unsubscribe-Post asks one-click)."""
    headers = BytesHeaderParser(policy=SMTP).parsebytes(message)
    uris = _URI.findall(str(headers.get("List-Unsubscribe", "")))
    web = [u.strip() for u in uris if u.strip().lower().startswith(("https:", "http:"))]
    https = web[0] if web else None
    post = str(headers.get("List-Unsubscribe-Post", "")).strip() == "List-Unsubscribe=One-Click"
    return https, post


def unsubscribe_findings(message: bytes, client: httpx.Client) -> list[Finding]:
    url, post = one_click_url(message)
    if url is None or not post:
        return [
            Finding(
                "unsubscribe",
                "error",
                "the message has no one-click unsubscribe (List-Unsubscribe with a URL and "
                "List-Unsubscribe-Post, RFC 8058); Gmail and Yahoo require it",
                "report this as a bug",
            )
        ]
    out: list[Finding] = []
    if not url.lower().startswith("https:"):
        out.append(
            Finding(
                "unsubscribe",
                "warning",
                f"the one-click URL is not https ({url}); RFC 8058 requires https, and every "
                "link to the web app (preferences, view online) is http too",
                "set NEWSLETTER_BASE_URL to the web app's public https address",
            )
        )
    try:
        response = client.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return [
            *out,
            Finding(
                "unsubscribe",
                "warning",
                f"the one-click URL could not be reached: {type(exc).__name__}: {exc}",
                "is `newsletter serve` running at NEWSLETTER_BASE_URL, reachable from here?",
            ),
        ]
    if 200 <= response.status_code < 300:
        out.append(
            Finding(
                "unsubscribe",
                "note",
                f"one-click unsubscribe answers {response.status_code} to a POST (dry run)",
            )
        )
    else:
        where = response.headers.get("Location")
        out.append(
            Finding(
                "unsubscribe",
                "error",
                f"one-click unsubscribe answered {response.status_code} to a POST"
                + (f" (a redirect to {where}; mail clients do not follow it)" if where else ""),
                "check that NEWSLETTER_BASE_URL is the web app's public address and that the "
                "web app and the senders share NEWSLETTER_SECRET_KEY",
            )
        )
    return out
