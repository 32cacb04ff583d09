"""The exceptions the pipeline raises on purpose.

Every error the command line reports maps to one of these, and each carries the exit code the
SPEC fixes: 2 for bad usage or bad input (the caller can fix it), 1 for a failure of the work.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base class: a failure with a one-line, user-facing reason."""

    exit_code = 1


class WorkError(NewsletterError):
    """The work itself failed (nothing to send, a transport down, a state that forbids it)."""

    exit_code = 1


class InputError(NewsletterError):
    """Bad input: a file, a value or a resource the caller named is unusable."""

    exit_code = 2


class ConfigError(InputError):
    """A setting is unusable; the message names the variable and the reason."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


class NotFound(InputError):
    """The caller named something (an issue id, an email) that does not exist."""
