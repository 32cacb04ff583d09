"""Charts as inline SVG, drawn on the server: readable without JavaScript, in print, and by a
screen reader. Pure functions, numbers in and an SVG string out.

Every chart is sized by its ``viewBox`` only, so it scales to the width of its box (a phone's
375 px or half a desktop page) with its text; the viewBox is narrow (340 units, about one
pixel each on a phone) so that the text stays legible there. Each is an ``<svg role="img">``
named by its ``<title>`` and described by its ``<desc>``; the page puts the same numbers in a
table next to it (the accessible fallback, and the only form a spreadsheet can copy). All text
is escaped, and characters XML forbids are dropped, so a review titled ``</svg><script>``
stays text.

No chart library: two chart kinds with fixed layouts take ~200 lines, whereas the small ones
that render SVG on the server (pygal, leather) bring a dependency for little, and the client
ones (Chart.js) need JavaScript and a bundle served from here (no CDN at run time).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape

WIDTH = 340  # viewBox units; the page decides the size in pixels
FONT = 12
INK = "#1a1a1a"
MUTED = "#595959"  # 7:1 on white
BAR = "#1f5fbf"
GRID = "#d6d6d6"
LABEL_CHARS = 50  # a bar's label, at FONT, fits WIDTH
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: object) -> str:
    """``value`` as SVG/HTML text: escaped, quotes too, without characters XML forbids."""
    return escape(_NOT_XML.sub("", str(value)), quote=True)


def shorten(label: str, limit: int) -> str:
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "\u2026"


def _open(chart_id: str, height: float, title: str, desc: str) -> list[str]:
    ident = text(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:g}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" class="chart" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'font-size="{FONT}">',
        f'<title id="{ident}-title">{text(title)}</title>',
        f'<desc id="{ident}-desc">{text(desc)}</desc>',
    ]


def bar_chart(
    chart_id: str,
    bars: Sequence[tuple[str, int]],
    *,
    title: str,
    desc: str,
    empty: str = "Nothing to show yet.",
) -> str:
    """Horizontal bars, one per ``(label, value)`` in the order given: the label on a line of
    its own above its bar (long titles fit a phone's width), the value at the bar's end.
    Bars are scaled to the largest value; a zero is a hairline, so every row is visible."""
    row, label_room, value_room = 40, 16, 40
    if not bars:
        lines = _open(chart_id, 40, title, desc)
        lines.append(f'<text x="0" y="24" fill="{MUTED}">{text(empty)}</text></svg>')
        return "".join(lines)
    height = row * len(bars) + 4
    top = max(value for _, value in bars) or 1
    span = WIDTH - value_room
    lines = _open(chart_id, height, title, desc)
    for index, (label, value) in enumerate(bars):
        y = index * row
        length = max(span * value / top, 1.5)
        lines.append(f"<g><title>{text(label)}: {value:,}</title>")
        lines.append(
            f'<text x="0" y="{y + 13}" fill="{INK}">{text(shorten(label, LABEL_CHARS))}</text>'
            f'<rect x="0" y="{y + label_room + 2}" width="{length:.1f}" height="16" '
            f'rx="2" fill="{BAR}"/>'
            f'<text x="{length + 5:.1f}" y="{y + label_room + 14}" fill="{INK}" '
            f'font-weight="600">{value:,}</text></g>'
        )
    lines.append("</svg>")
    return "".join(lines)


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) that covers ``top`` in ``ticks`` or
    fewer steps."""
    if top <= ticks:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def line_chart(
    chart_id: str,
    values: Sequence[int],
    *,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    x_every: int = 12,
    x_unit: str = "h",
    empty: str = "",
) -> str:
    """A line over ``values`` (one point per step, e.g. clicks in hour 0..71) on labelled
    axes: ticks on x every ``x_every`` steps (``0h``, ``12h``...), round ticks on y, and the
    axes' names under and beside the plot. ``empty``: said over the plot when every value
    is zero (a flat line at 0 looks like a chart that failed to draw)."""
    left, right, top_pad, bottom = 40, 16, 12, 44
    height = 230
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    count = max(len(values), 1)
    step = nice_step(max(values, default=0))
    y_max = max(step * math.ceil(max(values, default=0) / step), step)

    def px(i: float) -> float:
        return left + plot_w * i / count  # step i at its start: the right edge is the end

    def py(v: float) -> float:
        return top_pad + plot_h * (1 - v / y_max)

    lines = _open(chart_id, height, title, desc)
    for tick in range(0, y_max + 1, step):  # horizontal grid with the y values
        y = py(tick)
        lines.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" '
            f'font-size="11">{tick:,}</text>'
        )
    for i in range(0, count + 1, x_every):  # x ticks, the window's end included
        x = px(i)
        lines.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad + plot_h}" '
            f'y2="{top_pad + plot_h + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{top_pad + plot_h + 17}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="11">{i}{text(x_unit)}</text>'
        )
    lines.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top_pad + plot_h}" '
        f'y2="{top_pad + plot_h}" stroke="{INK}"/>'
        f'<line x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}" stroke="{INK}"/>'
    )
    if values:
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        lines.append(
            f'<polyline points="{points}" fill="none" stroke="{BAR}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
        if empty and not any(values):
            lines.append(
                f'<text x="{left + plot_w / 2:.1f}" y="{top_pad + plot_h / 2:.1f}" '
                f'text-anchor="middle" fill="{MUTED}">{text(empty)}</text>'
            )
        peak = max(range(len(values)), key=lambda i: values[i])
        if values[peak]:
            lines.append(
                f'<circle cx="{px(peak):.1f}" cy="{py(values[peak]):.1f}" r="3.5" fill="{BAR}">'
                f"<title>peak: {values[peak]:,} at {peak}{text(x_unit)}</title></circle>"
            )
    lines.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="{INK}">{text(x_label)}</text>'
        f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}">{text(y_label)}</text>'
        "</svg>"
    )
    return "".join(lines)
