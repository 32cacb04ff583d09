"""Commands for staff accounts: add (or update), token, revoke-tokens, list, disable, enable.

A password is never an option (it would stay in the shell's history and show in ``ps``): it is
typed twice at a hidden prompt on a terminal, or read from the first line of standard input
with ``--password-stdin`` (scripts, secrets managers).
"""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from newsletter.cli._app import cli, services
from newsletter.errors import FieldError, InputError
from newsletter.localtime import local_text

WORDS = {"email": "EMAIL", "role": "--role", "password": "password"}  # domain field -> here


def interactive() -> bool:
    """Whether a person is at the keyboard (a hidden prompt can be shown)."""
    return sys.stdin.isatty()


def reworded(exc: FieldError, email: str) -> InputError:
    if exc.field == "email" and exc.code == "exists":
        return InputError(
            f"{email.strip()} already has an account; add --update to change its role or password"
        )
    return InputError(exc.render(WORDS.get(exc.field, exc.field)))


def read_password(from_stdin: bool, none: bool) -> str | None:
    """The new password: None for a token-only account; else from stdin or a hidden prompt."""
    from newsletter.services import users

    if none:
        return None
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not interactive():
        raise InputError(
            "no password: standard input is not a terminal; pass --password-stdin to read it "
            "from there (or --no-password for an account used only with API tokens)"
        )

    def policy(value: str) -> str:
        try:
            users.check_password(value)
        except FieldError as exc:
            raise click.UsageError(exc.render("password")) from None
        return value

    password: str = click.prompt(
        f"Password (at least {users.PASSWORD_MIN_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt="Repeat the password",
        value_proc=policy,
        err=True,
    )
    return password


def shown(when: datetime | None, zone: ZoneInfo) -> str:
    """A time in the publication's zone with its offset: ``2026-12-11 09:00 EST (-05:00)``."""
    return local_text(when, zone)


@cli.group()
def users() -> None:
    """Staff accounts for the admin pages and the API: editors and operators."""


@users.command("add")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["editor", "operator"]),
    required=True,
    help="editor: prepare, test and approve issues; operator: also schedule and send them.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="No login: the account uses API tokens only.")
@click.option(
    "--update",
    is_flag=True,
    help="The account exists: set this role (and the password, if one is given; its other "
    "sessions end).",
)
@click.pass_context
def users_add(
    ctx: click.Context, email: str, role: str, password_stdin: bool, no_password: bool, update: bool
) -> None:
    """Add a staff account (or change one, with --update).

    Without --password-stdin or --no-password the password is asked twice at a hidden prompt;
    it needs at least 10 characters. An email that already has an account is refused (exit 2)
    unless --update is given; --update with --no-password keeps the current password."""
    from newsletter.services import users as staff

    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password do not go together")
    context = services(ctx)
    existed = update and staff.find_user(context, email) is not None
    password = read_password(password_stdin, no_password)
    try:
        user = staff.add_user(context, email, role, password, update=update)
    except FieldError as exc:
        raise reworded(exc, email) from None
    if existed:
        changed = "role and password" if password is not None else "role"
        click.echo(f"{user.email}: updated ({changed}), {user.role}")
        return
    login = "no password: API tokens only" if password is None else "can log in"
    click.echo(f"{user.email}: added, {user.role}, {login}")


@users.command("token")
@click.argument("email")
@click.pass_context
def users_token(ctx: click.Context, email: str) -> None:
    """Print a new API token for the account (send it as "Authorization: Bearer TOKEN").

    The token is shown this once: only its SHA-256 is stored. Older tokens keep working
    until revoked (users revoke-tokens)."""
    from newsletter.services import users as staff

    token = staff.new_token(services(ctx), email)
    click.echo(token)
    click.echo("Keep it now: it cannot be shown again.", err=True)


@users.command("revoke-tokens")
@click.argument("email")
@click.pass_context
def users_revoke(ctx: click.Context, email: str) -> None:
    """Revoke every API token of the account."""
    from newsletter.services import users as staff

    count = staff.revoke_tokens(services(ctx), email)
    click.echo(f"{email.strip()}: {count} token{'s' if count != 1 else ''} revoked")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Every staff account: role, whether it can log in, live tokens, last login."""
    from newsletter.services import users as staff

    context = services(ctx)
    zone = context.settings.timezone
    rows = staff.list_users(context)
    if not rows:
        click.echo("no staff accounts yet: newsletter users add EMAIL --role operator")
        return
    width = max(len(r.email) for r in rows)
    click.echo(f"{'EMAIL':<{width}}  ROLE      LOGIN  TOKENS  LAST LOGIN")
    for row in rows:
        login = "no" if not row.has_password or row.disabled_at else "yes"
        state = f"  disabled {shown(row.disabled_at, zone)}" if row.disabled_at else ""
        click.echo(
            f"{row.email:<{width}}  {row.role:<8}  {login:<5}  {row.tokens:>6}  "
            f"{shown(row.last_login_at, zone)}{state}"
        )


@users.command("disable")
@click.argument("email")
@click.pass_context
def users_disable(ctx: click.Context, email: str) -> None:
    """Stop the account: no login, its sessions end, its tokens are revoked."""
    from newsletter.services import users as staff

    user = staff.disable_user(services(ctx), email)
    click.echo(f"{user.email}: disabled")


@users.command("enable")
@click.argument("email")
@click.pass_context
def users_enable(ctx: click.Context, email: str) -> None:
    """Let a disabled account log in again (its tokens were revoked: make a new one)."""
    from newsletter.services import users as staff

    user = staff.enable_user(services(ctx), email)
    click.echo(f"{user.email}: enabled")
