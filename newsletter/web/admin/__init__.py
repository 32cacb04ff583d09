"""The staff pages under ``/admin/``: login, and the pages editors and operators work in.

:data:`admin` is the one blueprint; each page module (``listing``, ``desk`` and its
pre-flight panel ``checks``, ``control``, ``report``) adds its routes to it when imported
below, and guards them with :func:`~newsletter.web.admin.auth.login_required` or
:func:`~newsletter.web.admin.auth.operator_required`. Every admin template extends
``admin/base.html.j2``, which gets the publication's name and colours and the signed-in
user from :func:`brand`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from newsletter.web import services

admin = Blueprint("admin", __name__, url_prefix="/admin")


def readable_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (``#rrggbb``): WCAG 2's relative
    luminance, against the contrast of each."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    lum = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#ffffff"


# App-wide, so that an admin template rendered by any view (a test's, an error handler's) has
# its brand; explicit arguments to render_template still win.
@admin.app_context_processor
def brand() -> dict[str, Any]:
    settings = services().settings
    return {
        "site_name": settings.site_name,
        "accent": settings.accent_color,
        "on_accent": readable_on(settings.accent_color),
        "user": g.get("user"),
    }


# The pages register their routes on `admin` when imported (after it exists).
from newsletter.web.admin import auth, checks, control, desk, listing, report  # noqa: E402

__all__ = ["admin", "auth", "checks", "control", "desk", "listing", "report"]
