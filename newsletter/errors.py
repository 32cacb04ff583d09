"""The exceptions the pipeline raises on purpose.

Every error a face reports maps to one of these, and each carries the exit code the command
line gives it (README, "Command line"): 2 for bad usage or bad input (the caller can fix it),
1 for a failure of the work. Domain code names the *field* a bad value came in
(:class:`FieldError`: ``week``, ``send_at``, ``position``), never a command-line option or a
form control: each face translates fields into its own words.
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


class FieldError(InputError):
    """A bad value for one named field of a request.

    ``field`` is the domain's name for it (``week``, ``send_at``, ``subject``, ``pin``...),
    ``shown`` the value as it should be quoted back (or None), ``reason`` why it is refused,
    and ``code`` a short machine-readable kind (``format``, ``past``, ``unknown``...) that a face
    may use to add a hint of its own.
    """

    def __init__(
        self, field: str, reason: str, *, shown: str | None = None, code: str = "invalid"
    ) -> None:
        self.field = field
        self.reason = reason
        self.shown = shown
        self.code = code
        super().__init__(self.render(field))

    def render(self, name: str) -> str:
        """The message with the field called ``name`` (a face's own word for it)."""
        return f"{name} {self.shown}: {self.reason}" if self.shown else f"{name}: {self.reason}"
