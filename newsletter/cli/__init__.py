"""The ``newsletter`` command line: one face over :mod:`newsletter.services`.

``_app`` holds the group, the runtime and the exit-code handling; each other module adds one
family of verbs.
"""

from __future__ import annotations

from newsletter.cli import (
    _bounces,
    _check,
    _data,
    _desk,
    _dkim,
    _issues,
    _jobs,
    _report,
    _steer,
    _subscribers,
    _users,
)
from newsletter.cli._app import cli, main

__all__ = ["cli", "main"]
del _bounces, _check, _data, _desk, _dkim, _issues, _jobs, _report, _steer, _subscribers, _users
