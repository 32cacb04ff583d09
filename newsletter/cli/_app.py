"""The ``newsletter`` command line (SPEC.md, "Public interface").

Exit codes: 0 success, 1 a failure of the work, 2 bad usage or bad input; errors print one line
on stderr. Commands are thin: they parse options, open the database and call the pipeline.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import __version__
from newsletter.config import Settings
from newsletter.errors import InputError, NewsletterError


@dataclass
class Runtime:
    """Settings plus a lazily opened database: commands that need no database never open one."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        from newsletter.db import make_engine

        self._engine = make_engine(self.settings)
        return self._engine

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        from newsletter.db import require_schema, session_factory

        require_schema(self.engine)
        return session_factory(self.engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def parse_now(value: str | None) -> datetime:
    """``--now``: ISO 8601; a value without an offset is UTC."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"--now {value!r}: expected ISO 8601, e.g. 2026-11-27T09:00:00Z") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def runtime(ctx: click.Context) -> Runtime:
    obj = ctx.find_object(Runtime)
    if obj is None:  # pragma: no cover - main() always sets it
        raise click.UsageError("no settings")
    return obj


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Weekly review digest: ingest reviews, build the issue, deliver it."""
    if ctx.obj is None:
        ctx.obj = Runtime(Settings.from_env())
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors on stderr and the SPEC's exit codes."""
    try:
        code = cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
    except NewsletterError as exc:
        click.echo(f"newsletter: error: {exc}", err=True)
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
