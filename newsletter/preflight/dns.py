"""TXT lookups for the authentication checks, behind one small function type.

:data:`TxtLookup` returns the TXT strings at a name (each record's strings joined, RFC 7208
3.3), ``[]`` when there are none, and raises :class:`DnsUnavailable` when DNS cannot be asked
at all (no resolver, a timeout), which the checks report as "not checked" rather than as a
missing record. Tests pass a dictionary through :func:`stub`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dns.exception
import dns.resolver

TxtLookup = Callable[[str], list[str]]
TIMEOUT = 3.0  # seconds for each lookup, all servers and retries included


class DnsUnavailable(Exception):
    """DNS could not be asked (as opposed to: it said there is no such record)."""


def system_lookup(timeout: float = TIMEOUT) -> TxtLookup:
    """Lookups through the system's resolver (``/etc/resolv.conf``), with dnspython."""

    def lookup(name: str) -> list[str]:
        try:
            resolver = dns.resolver.Resolver()
            answer = resolver.resolve(name, "TXT", lifetime=timeout, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoResolverConfiguration as exc:
            raise DnsUnavailable(f"no DNS resolver configured ({exc})") from exc
        except dns.exception.DNSException as exc:  # timeouts, SERVFAIL from every server
            raise DnsUnavailable(f"{type(exc).__name__}: {exc}") from exc
        records = []
        for rrset in answer.response.answer:
            for item in rrset:
                strings = getattr(item, "strings", None)
                if strings is not None:
                    records.append(b"".join(strings).decode("utf-8", "replace"))
        return records

    return lookup


def stub(records: Mapping[str, str | list[str]] | None) -> TxtLookup:
    """Lookups answered from ``records`` (name -> TXT value or values); ``None``: DNS is
    unreachable, every lookup raises :class:`DnsUnavailable`."""

    def lookup(name: str) -> list[str]:
        if records is None:
            raise DnsUnavailable("DNS unreachable (stub)")
        found = records.get(name.rstrip(".").lower(), [])
        return [found] if isinstance(found, str) else list(found)

    return lookup


def organizational(domain: str) -> str:
    """The organizational domain, approximated by the last two labels (DMARC 3.2 asks for the
    Public Suffix List: under a two-label suffix such as ``co.uk`` two different sites look like
    one, so a misalignment there can go unnoticed; this check only warns)."""
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])
