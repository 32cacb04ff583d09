"""The ``newsletter`` command group, its runtime, and how errors reach the terminal.

Exit codes (README, "Command line"): 0 success, 1 a failure of the work, 2 bad usage or bad
input; errors print one line on stderr. Commands are thin: they parse options, call
:mod:`newsletter.services`, and word the result. Each command imports the services it uses
when it runs, so ``newsletter --help`` starts in a fraction of a second. Domain errors name
fields (``week``, ``send_at``); :data:`OPTIONS` turns them into this face's options
(``--week``, ``--at``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from newsletter import __version__, localtime
from newsletter.config import Settings
from newsletter.errors import FieldError, InputError, NewsletterError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newsletter.services import Context

# domain field -> the option that carries it here
OPTIONS = {
    "week": "--week",
    "send_at": "--at",
    "subject": "--subject",
    "preheader": "--preheader",
    "pin": "--pin",
    "drop": "--drop",
    "move": "--move",
    "position": "--move",
    "subscriber": "--subscriber",
    "to": "--to",
    "categories": "--categories",
    "format": "--format",
}
# (field, code) -> a hint this face adds
HINTS = {("send_at", "past"): "leave --at out to send now"}


@dataclass
class Runtime:
    """Settings plus a lazily opened database: commands that need no database never open one."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        from newsletter.services import setup

        self._engine = setup.connect(self.settings)
        return self._engine

    @cached_property
    def services(self) -> Context:
        from newsletter.services import setup

        return setup.open_context(self.settings, self.engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def parse_time(value: str | None, option: str = "--now", zone: ZoneInfo | None = None) -> datetime:
    """An ISO 8601 option (``--now``, ``--at``) as UTC; none: now. A value without an offset
    is a wall-clock time in ``zone`` (the publication's, NEWSLETTER_TIMEZONE), else UTC."""
    if value is None:
        return datetime.now(UTC)
    try:
        return localtime.parse_time(value, zone or ZoneInfo("UTC"), option)
    except FieldError as exc:
        raise InputError(
            f"{option} {value!r}: {exc.reason}"
            if exc.code != "format"
            else f"{option} {value!r}: expected ISO 8601, e.g. 2026-11-27T09:00 (in "
            f"{(zone or ZoneInfo('UTC')).key}) or 2026-11-27T14:00:00Z"
        ) from exc


def parse_now(value: str | None, zone: ZoneInfo | None = None) -> datetime:
    return parse_time(value, "--now", zone)


def runtime(ctx: click.Context) -> Runtime:
    obj = ctx.find_object(Runtime)
    if obj is None:  # pragma: no cover - main() always sets it
        raise click.UsageError("no settings")
    return obj


def services(ctx: click.Context) -> Context:
    return runtime(ctx).services


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Weekly review digest: ingest reviews, build the issue, deliver it."""
    if ctx.obj is None:
        ctx.obj = Runtime(Settings.from_env())
    ctx.call_on_close(ctx.obj.close)


def describe(exc: NewsletterError) -> str:
    """The one line this face prints for a domain error."""
    if not isinstance(exc, FieldError):
        return str(exc)
    option = OPTIONS.get(exc.field)
    text = exc.render(option) if option else exc.reason
    hint = HINTS.get((exc.field, exc.code))
    return f"{text}; {hint}" if hint else text


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors on stderr and the documented exit codes."""
    try:
        code = cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
    except NewsletterError as exc:
        click.echo(f"newsletter: error: {describe(exc)}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("newsletter: aborted", err=True)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # "newsletter" alone: the help text
        return 2
    except click.ClickException as exc:
        click.echo(f"newsletter: error: {exc.format_message()}", err=True)
        return 2
    # Without standalone mode, click returns ctx.exit()'s code instead of raising it.
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
