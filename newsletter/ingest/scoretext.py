"""Scores written as text: "8/10", "8.5 out of 10", "★★★★☆ 4/5", "Verdict: 4 out of 5 stars".

Three shapes count, all pure string rules over one block of visible text:

- a block that is nothing but a score (``"8/10"``, ``"4/5 stars"``, ``"★★★★☆ 4/5"``,
  ``"★★★★☆"``): :func:`parse_score`;
- a verdict label then the score (``"Rating - 7/10"``, ``"Final score: 6/10"``,
  ``"Overall 8.2"`` when the scale is known): :func:`parse_score` too;
- a verdict written in prose, where a label opens the block or a sentence and the score follows
  it at once, or closes the block the label opened ("Verdict: Tense and clever. 4 out of 5
  stars."): :func:`prose_verdict`.

A fraction elsewhere in prose ("the original got 9/10 from us back in 2015", "rated 4 out of 5
by players") is a mention, not this post's score: no label opens it, so nothing here reads it.
"""

from __future__ import annotations

import re

NUM = r"(\d{1,3}(?:[.,]\d{1,2})?)"
FRACTION = rf"{NUM}\s*(?:/|out\s+of)\s*{NUM}"
_FILLED, _HALF, _EMPTY = "★⭐", "⯪⯨½", "☆✩"
_STAR = f"[{_FILLED}{_HALF}{_EMPTY}]"
_STARS = rf"(?:{_STAR}\s?){{3,10}}"
# the score itself, with the decorations sites put around it: "★★★★☆ (4/5)", "4/5 stars"
_SCORE = rf"(?:{_STARS}\s*)?\(?{FRACTION}\)?(?:\s*(?:stars?|points?|{_STARS}))?"
_LABEL = (
    r"(?:(?:final|overall|our|the|my|total|review)\s+)?(?:rating|score|verdict|grade)"
    r"|overall|total"
)
_SEP = r"\s*(?:[:\-–—=|]\s*)?"

SCORE_TEXT = re.compile(rf"^\s*{_SCORE}\s*[.!]?\s*$", re.I)
LABELLED = re.compile(rf"^\s*(?:{_LABEL}){_SEP}{_SCORE}\s*[.!]?\s*$", re.I)
# "Score: 3.5 of 5" -- "of" alone only after a label ("1 of 3" in prose is a part number)
_LABELLED_OF = re.compile(rf"^\s*(?:{_LABEL}){_SEP}{NUM}\s+of\s+{NUM}\s*[.!]?\s*$", re.I)
_STAR_RUN = re.compile(rf"^\s*(?:(?:{_LABEL}){_SEP})?({_STARS})\s*[.!]?\s*$", re.I)
_BARE_NUMBER = re.compile(rf"^\s*{NUM}\s*(%)?\s*$")
_LABELLED_NUMBER = re.compile(rf"^\s*(?:{_LABEL}){_SEP}{NUM}\s*(%)?\s*[.!]?\s*$", re.I)
VERDICT_LABEL = re.compile(
    rf"^\s*(?:(?:{_LABEL})|(?:final|closing)\s+(?:thoughts|words)|the\s+bottom\s+line"
    r"|bottom\s+line|conclusion|in\s+conclusion)\s*[:\-–—.]?\s*$",
    re.I,
)
# prose: a label opening the block or a sentence, a separator, then the score at once...
_PROSE_AT_LABEL = re.compile(
    rf"(?:^|[.!?]\s+)(?:{_LABEL})\s*[:\-–—]\s*{_SCORE}(?!\d|[.,]\d|\s*/)", re.I
)
# ...or the label opening the block and the score closing it
_PROSE_OPEN = re.compile(rf"^\s*(?:{_LABEL})\s*[:\-–—]", re.I)
_PROSE_CLOSE = re.compile(rf"(?:^|[\s.!?:;,–—-])\s*{_SCORE}\s*[.!]?\s*$", re.I)
PROSE_MAX = 600  # characters: a verdict paragraph, not a whole article
_PROSE_SCALES = frozenset({4.0, 5.0, 10.0, 20.0, 100.0})


def number(text: str) -> float:
    return float(text.replace(",", "."))


def guess_scale(value: float, hint: float | None = None) -> float:
    """The scale of a score printed without one: the box's own hint, else the smallest of
    10 and 100 that holds it (a score with no stated scale is read out of 10 elsewhere)."""
    if hint and value <= hint:
        return hint
    return 10.0 if value <= 10 else 100.0


def _stars(run: str) -> tuple[float, float] | None:
    """A star run as a score: "★★★★☆" is (4, 5). Only runs that show their scale count: one
    with an empty star, or of five or ten."""
    filled = sum(run.count(c) for c in _FILLED)
    half = sum(run.count(c) for c in _HALF)
    empty = sum(run.count(c) for c in _EMPTY)
    total = filled + half + empty
    if total not in (5, 10) and not (empty and 3 <= total <= 10):
        return None
    return filled + half / 2, float(total)


def _fraction(match: re.Match[str]) -> tuple[float, float]:
    return number(match.group(1)), number(match.group(2))


def parse_score(text: str | None, default_max: float | None = None) -> tuple[float, float] | None:
    """``"8/10"``, ``"8.5 out of 10"``, ``"4/5 stars"``, ``"★★★★☆"``, ``"Rating - 7/10"``;
    a bare ``"8.5"`` (or ``"Overall 8.5"``) needs ``default_max``, and ``"85%"`` is out of
    100."""
    if not text:
        return None
    match = SCORE_TEXT.match(text) or LABELLED.match(text) or _LABELLED_OF.match(text)
    if match:
        return _fraction(match)
    stars = _STAR_RUN.match(text)
    if stars:
        return _stars(stars.group(1))
    bare = _BARE_NUMBER.match(text) or _LABELLED_NUMBER.match(text)
    if bare and bare.group(2):
        return number(bare.group(1)), 100.0
    if bare and default_max:
        value = number(bare.group(1))
        return value, guess_scale(value, default_max)
    return None


def plausible(score: tuple[float, float] | None) -> tuple[float, float] | None:
    """A prose score on a scale reviews use, not above it (so "9/11" or "24/7" is no score)."""
    if score and score[1] in _PROSE_SCALES and 0 <= score[0] <= score[1]:
        return score
    return None


def prose_verdict(text: str) -> tuple[float, float] | None:
    """The score of a verdict written as a sentence, or ``None`` for any other prose."""
    if len(text) > PROSE_MAX:
        return None
    for match in _PROSE_AT_LABEL.finditer(text):
        found = plausible(_fraction(match))
        if found:
            return found
    return closing_score(text) if _PROSE_OPEN.match(text) else None


def closing_score(text: str) -> tuple[float, float] | None:
    """The score that ends a verdict paragraph ("... A must-play. 9/10"), or ``None``."""
    close = _PROSE_CLOSE.search(text) if len(text) <= PROSE_MAX else None
    return plausible(_fraction(close)) if close else None
