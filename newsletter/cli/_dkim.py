"""``newsletter dkim keygen FILE`` and ``newsletter dkim record``: keys and their DNS records."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli._app import cli, runtime


@cli.group()
def dkim() -> None:
    """DKIM keys: make one, print the DNS records of the configured ones."""


@dkim.command("keygen")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--ed25519", is_flag=True, help="An Ed25519 key (RFC 8463) instead of RSA.")
@click.option("--bits", default=2048, show_default=True, help="RSA key size.")
def dkim_keygen(path: Path, ed25519: bool, bits: int) -> None:
    """Write a new private key to PATH (mode 0600; never over an existing file) and print the
    TXT record to publish for it."""
    from newsletter.services import dkim as keys

    record = keys.new_key(path, ed25519=ed25519, bits=bits)
    kind = "ED25519_" if ed25519 else ""
    click.echo(f"wrote {path}; set NEWSLETTER_DKIM_{kind}PRIVATE_KEY={path} and a selector")
    click.echo(f"publish at {{selector}}._domainkey.{{From domain}}: {record}")


@dkim.command("record")
@click.pass_context
def dkim_record(ctx: click.Context) -> None:
    """The TXT records to publish for the configured keys, as zone-file lines."""
    from newsletter.services import dkim as keys

    for name, value in keys.records(runtime(ctx).settings).items():
        click.echo(keys.zone_line(name, value))
