"""The publication's front: the home page (``/``), the archive (``/archive``) and each sent
issue in it (``/archive/<week>``), plus the branding every page of ours shows.

The home page offers the same sign-up form as ``/subscribe`` (it posts there, so one handler
keeps the CSRF check, the limits and the same answer whatever the address). The archive lists
sent issues only; an archive copy carries no tracking and no personal link
(:mod:`newsletter.issues.archive`), so it is served to anyone, under the same
Content-Security-Policy as the "View online" copy (inlined styles, https images, no scripts,
no forms). Times are shown in the publication's zone (``NEWSLETTER_TIMEZONE``).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from newsletter import localtime
from newsletter.errors import NotFound
from newsletter.sections import SECTIONS
from newsletter.services import archive as public_archive
from newsletter.web import services
from newsletter.web.guards import COPY_POLICY

front = Blueprint("front", __name__)

LATEST = 3  # issues the home page lists under the form


@front.app_context_processor
def brand_values() -> dict[str, object]:
    """``brand`` (:class:`~newsletter.services.archive.Brand`) for every template."""
    return {"brand": public_archive.branding(services())}


def local(moment: datetime) -> datetime:
    return moment.astimezone(services().settings.timezone)


def zoned(moment: datetime) -> str:
    """``2026-12-11 09:00 EST (-05:00)``: the publication's zone, with its offset."""
    return localtime.local_text(moment, services().settings.timezone)


def day(moment: datetime) -> str:
    """``December 11, 2026`` in the publication's zone."""
    at = local(moment)
    return f"{at:%B} {at.day}, {at.year}"


def iso_local(moment: datetime) -> str:
    """For ``<time datetime>``: ISO 8601 in the publication's zone."""
    return local(moment).isoformat(timespec="minutes")


for _filter in (zoned, day, iso_local):
    front.add_app_template_filter(_filter)


@front.get("/")
def home() -> str:
    latest = public_archive.list_archive(services(), limit=LATEST)
    return render_template("home.html.j2", sections=SECTIONS, error=None, form={}, latest=latest)


@front.get("/archive")
def listing() -> str:
    return render_template("archive.html.j2", entries=public_archive.list_archive(services()))


@front.get("/archive/<week_key>")
def issue(week_key: str) -> Response | tuple[str, int]:
    try:
        html = public_archive.archive_copy(services(), week_key)
    except NotFound:
        return render_template(
            "message.html.j2",
            title="No such issue",
            message=f"There is no issue {week_key[:20]} in the archive. "
            "The archive lists every issue that went out.",
            link=("/archive", "See every issue"),
        ), 404
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": COPY_POLICY})
