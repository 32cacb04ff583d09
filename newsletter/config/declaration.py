"""How a setting is declared: its parser, help and names, carried by the dataclass field.

:func:`setting` makes a field of :class:`~newsletter.config.settings.Settings` that carries a
:class:`Declaration`; :func:`parse` reads a value through it, as the environment, ``.env``
files and ``Settings.with_overrides`` all do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field
from typing import Any

from newsletter.config.values import PREFIX
from newsletter.errors import ConfigError


@dataclass(frozen=True)
class Declaration:
    """How one setting is read and documented."""

    parse: Callable[[str, str], Any]  # (variable, text) -> value, or ConfigError
    help: str
    env: str | None = None  # the variable, when it is not NEWSLETTER_<FIELD>
    text: Callable[[Any], str] = str  # a value as text: what the parser reads back
    shown: str | None = None  # the default as the settings table shows it


def setting(
    default: Any,
    parse: Callable[[str, str], Any],
    help: str,
    *,
    env: str | None = None,
    text: Callable[[Any], str] = str,
    shown: str | None = None,
) -> Any:
    """Declare a setting: a dataclass field carrying its :class:`Declaration`."""
    return field(default=default, metadata={"setting": Declaration(parse, help, env, text, shown)})


def variable_of(item: Field[Any]) -> str:
    declaration: Declaration = item.metadata["setting"]
    return declaration.env or PREFIX + item.name.upper()


def parse(item: Field[Any], value: str) -> Any:
    variable = variable_of(item)
    allowed = "\n\t" if item.name == "sources" else ""
    if any((ord(c) < 32 and c not in allowed) or c == "\x7f" for c in value):
        # a CR/LF here could end up as a header line of its own (List-Id, From...)
        raise ConfigError(variable, "contains control characters (a line break?)")
    declaration: Declaration = item.metadata["setting"]
    return declaration.parse(variable, value)
