"""Commands for the scheduled work (the weekly job, the minute tick) and the web app."""

from __future__ import annotations

import click

from newsletter.cli._app import cli, parse_now, runtime, services


@cli.command()
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.option("--retry", is_flag=True, help="Run this week again if its run failed or finished.")
@click.pass_context
def weekly(ctx: click.Context, now_text: str | None, retry: bool) -> None:
    """The weekly job now: ingest NEWSLETTER_SOURCES, build this week's issue, send it at
    NEWSLETTER_WEEKLY_AT (at once if that time has passed). Never twice for one week, unless
    --retry asks (a run still alive is never taken over; one whose process died is taken over
    by any run). Exit 1 when the run or any source failed."""
    from newsletter.services import jobs

    report = jobs.weekly(
        services(ctx), parse_now(now_text, runtime(ctx).settings.timezone), retry=retry
    )
    for error in report.ingest_errors:
        click.echo(f"ingest error: {error}", err=True)
    if not report.ran:
        hint = " (--retry runs it again)" if report.state in ("failed", "done") else ""
        click.echo(f"week {report.week_key}: {report.outcome}; nothing done{hint}")
    elif report.state == "failed":
        click.echo(
            f"error: week {report.week_key}: {report.outcome} (--retry runs it again)", err=True
        )
    else:
        click.echo(f"week {report.week_key}: {report.outcome}")
    if report.failed:
        ctx.exit(1)


@cli.command()
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.pass_context
def tick(ctx: click.Context, now_text: str | None) -> None:
    """Minute work without Celery beat (run it from cron): the weekly slot when due, sends
    scheduled with --at, retries whose time has come, rows of workers that died."""
    from newsletter.services import jobs

    report = jobs.tick(services(ctx), parse_now(now_text, runtime(ctx).settings.timezone))
    if report.weekly:
        click.echo(f"weekly {report.weekly.week_key}: {report.weekly.outcome}")
        for error in report.weekly.ingest_errors:
            click.echo(f"ingest error: {error}", err=True)
    for issue_id in report.started:
        click.echo(f"issue {issue_id}: scheduled send started")
    for issue_id, batches in report.redispatched.items():
        click.echo(f"issue {issue_id}: {batches} overdue batches dispatched")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """The web app: sign-up, confirm, unsubscribe and preferences pages.

    One process (Werkzeug's server, threaded: every request gets its own transport); in
    production run it behind a WSGI server, e.g. gunicorn 'newsletter.web:create_app()'.
    Beyond loopback it needs NEWSLETTER_SECRET_KEY (32+ bytes) and an https
    NEWSLETTER_BASE_URL.
    """
    from newsletter.web import check_exposure, create_app

    check_exposure(runtime(ctx).settings, host)
    app = create_app(runtime(ctx).settings, context=services(ctx))
    click.echo(f"serving on http://{host}:{port}/subscribe (Ctrl+C stops)")
    app.run(host=host, port=port, threaded=True, load_dotenv=False)
