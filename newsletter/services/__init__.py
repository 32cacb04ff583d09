"""The service layer: one implementation of every use case, for both faces.

The command line (``newsletter.cli``) and the web app (``newsletter.web``) parse what came in,
call a function here with plain arguments (ids, addresses, times), and word its result or its
error (:mod:`newsletter.errors`) in their own terms. Everything a face needs is named here, so
a face never reaches past this layer (an import-linter contract in ``pyproject.toml``).

The submodules (``issues``, ``subscribers``, ``reviews``, ``feedback``, ``jobs``, ``setup``,
``users``, ``reports``, ``archive``) and
the names below are loaded on first use: a command pays only for the parts of the pipeline it
runs (``newsletter --help`` imports none of them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.compose.budget import HTML_BUDGET
    from newsletter.compose.render import templates_dir
    from newsletter.issues.editing import Edits
    from newsletter.issues.preview import FORMATS as PREVIEW_FORMATS
    from newsletter.mail.transport import Transport
    from newsletter.services import (
        archive,
        feedback,
        issues,
        jobs,
        reports,
        reviews,
        setup,
        subscribers,
        users,
    )
    from newsletter.services.context import Context
    from newsletter.subscribers.consent import Channel, Confirmation, Signup
    from newsletter.tokens import BadToken

_NAMES = {
    "HTML_BUDGET": ("newsletter.compose.budget", "HTML_BUDGET"),
    "PREVIEW_FORMATS": ("newsletter.issues.preview", "FORMATS"),
    "BadToken": ("newsletter.tokens", "BadToken"),
    "Channel": ("newsletter.subscribers.consent", "Channel"),
    "Confirmation": ("newsletter.subscribers.consent", "Confirmation"),
    "Context": ("newsletter.services.context", "Context"),
    "Edits": ("newsletter.issues.editing", "Edits"),
    "Signup": ("newsletter.subscribers.consent", "Signup"),
    "Transport": ("newsletter.mail.transport", "Transport"),
    "templates_dir": ("newsletter.compose.render", "templates_dir"),
}
_SUBMODULES = frozenset(
    {
        "archive",
        "dkim",
        "feedback",
        "issues",
        "jobs",
        "reports",
        "reviews",
        "setup",
        "subscribers",
        "users",
    }
)

__all__ = [
    "HTML_BUDGET",
    "PREVIEW_FORMATS",
    "BadToken",
    "Channel",
    "Confirmation",
    "Context",
    "Edits",
    "Signup",
    "Transport",
    "archive",
    "feedback",
    "issues",
    "jobs",
    "reports",
    "reviews",
    "setup",
    "subscribers",
    "templates_dir",
    "users",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f"{__name__}.{name}")
    if name in _NAMES:
        module, attribute = _NAMES[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
