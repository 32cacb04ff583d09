"""Score-card colours: a band per normalized score, with text that passes WCAG AA (4.5:1)."""

from __future__ import annotations

from dataclasses import dataclass

# (lowest normalized score, band background, label) from best to worst.
BANDS: tuple[tuple[float, str, str], ...] = (
    (8.5, "#1b7a3a", "great"),
    (7.0, "#2f6f9f", "good"),
    (5.0, "#8a5a00", "mixed"),
    (0.0, "#b02a37", "poor"),
)
WHITE, INK = "#ffffff", "#111111"
MIN_CONTRAST = 4.5
# The card surfaces of templates/email/base.html.j2, light and dark (prefers-color-scheme).
LIGHT_SURFACE, DARK_SURFACE = WHITE, "#1b1e21"


@dataclass(frozen=True)
class Band:
    background: str
    text: str
    label: str


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG 2.x) of ``#rrggbb``."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_text(background: str) -> str:
    """White or near-black, whichever contrasts more with ``background``."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def band_for(score_norm: float) -> Band:
    for floor, background, label in BANDS:
        if score_norm >= floor:
            return Band(background, readable_text(background), label)
    floor, background, label = BANDS[-1]
    return Band(background, readable_text(background), label)


def _mix(colour: str, toward: str, share: float) -> str:
    """``colour`` moved ``share`` (0..1) of the way to ``toward``, as ``#rrggbb``."""
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(toward[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def legible_on(colour: str, background: str, minimum: float = MIN_CONTRAST + 0.1) -> str:
    """``colour`` as text on ``background``: itself when it contrasts at least ``minimum``
    (WCAG AA's 4.5:1, with a margin for clients that round colours), else the least tint
    (toward white on a dark background) or shade (toward black on a light one) that does,
    so a brand's accent keeps its hue in dark mode."""
    if contrast(colour, background) >= minimum:
        return colour
    toward = WHITE if luminance(background) < 0.18 else "#000000"
    for step in range(1, 101):
        mixed = _mix(colour, toward, step / 100)
        if contrast(mixed, background) >= minimum:
            return mixed
    return toward
