"""The settings documented from their declarations: ``newsletter settings`` and the README's
table of settings are both generated here, so neither can drift from the code."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

from newsletter.config.declaration import Declaration, variable_of
from newsletter.config.settings import Settings


def declarations() -> Iterator[tuple[str, str, Declaration]]:
    """(variable, default as text, declaration) of every setting, in declaration order."""
    for item in fields(Settings):
        declaration: Declaration = item.metadata["setting"]
        if declaration.shown is not None:
            default = declaration.shown
        elif item.default is None:
            default = "unset"
        elif item.default == ():
            default = "empty"
        else:
            default = f"`{declaration.text(item.default)}`"
        yield variable_of(item), default, declaration


def settings_table() -> str:
    """The README's table of settings, in Markdown."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{var}` | {default} | {d.help} |" for var, default, d in declarations()]
    return "\n".join(lines) + "\n"


def describe_settings() -> str:
    """Every setting for a terminal: the variable, its default, and what it does."""
    out = []
    for variable, default, declaration in declarations():
        out.append(f"{variable} (default: {default.strip('`')})\n    {declaration.help}\n")
    return "\n".join(out)
