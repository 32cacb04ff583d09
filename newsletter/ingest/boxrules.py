"""Review boxes of plugins we have no spec for: the overall score by general rules.

Three rules, tried in order, each giving the box *total* and never one criterion:

0. **schema.org in the markup.** A ``Rating`` in microdata or RDFa (``itemprop`` or
   ``property`` ``reviewRating``, or an element typed ``Rating``): its ``ratingValue`` and
   ``bestRating`` (schema.org's default best is 5). An ``AggregateRating`` is readers' ratings
   ("rated 4 out of 5 by players"), never the post's score.
1. **Data attributes.** An element carrying the score as data (``data-score="8.5"``,
   ``data-rating``, ``data-review-score``, ``data-overall``...), its scale beside it or on a
   container (``data-max``, ``data-best``, ``data-scale``, ``data-out-of``...). Several such
   elements are a box with criteria: the one marked overall (by its class, id, attribute name or
   label: final, overall, total, verdict) wins, else the one that holds the others; with only
   unmarked peers nothing is taken (which of them is the total is a guess).
2. **A "final score" element.** An element whose class or id says final/overall/total/verdict,
   inside something whose class says score/rating/review, with a short text that is one score
   ("Final score 7.5", "8.5/10", "4 out of 5"). Criteria beside it are never read.

Ratings by readers (user, reader, visitor, comment, vote widgets) and anything inside a link
(a card pointing at another post) are not the post's score.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from newsletter.ingest.html import HtmlElement, text_of
from newsletter.ingest.scoretext import FRACTION, NUM, guess_scale, number, parse_score

_SCORE_ATTR = re.compile(
    r"^data-(?:(?:review|overall|final|total|average|avg|post|our)[-_]?)?(?:score|rating|grade)"
    r"(?:[-_]?(?:value|overall|final|total))?$|^data-(?:overall|final)$",
    re.I,
)
_SCALE_ATTR = re.compile(
    r"^data-(?:max|best|scale|out-?of|(?:score|rating)[-_]?(?:max|best|scale|out-?of)"
    r"|(?:max|best)[-_]?(?:score|rating|value))$",
    re.I,
)
_OVERALL = frozenset({"overall", "final", "total", "verdict", "average", "avg", "summary"})
_CRITERION = frozenset(
    {"criterion", "criteria", "crit", "item", "row", "bar", "breakdown", "sub", "aspect", "line"}
)
_MAYBE_OVERALL = re.compile("|".join(_OVERALL), re.I)
_BOXY = frozenset({"score", "rating", "review", "grade", "verdict", "points", "rvw"})
_FOREIGN = frozenset(
    {"user", "users", "reader", "readers", "visitor", "visitors", "comment", "comments", "vote"}
    | {"votes", "community", "audience", "your", "rate"}
)
_OVERALL_LABEL = re.compile(
    r"^\s*(?:final|overall|total|verdict|our\s+(?:score|rating))(?![a-z])", re.I
)
_SCORE_VALUE = re.compile(rf"^\s*{NUM}\s*(%)?\s*(?:(?:/|out\s+of)\s*{NUM})?\s*$", re.I)
_ANCESTORS = 4  # how far up a scale or a box class is looked for


def words(el: HtmlElement, extra: str = "") -> set[str]:
    """The lower-case words of an element's class and id ("rvwFinal score-box" -> rvw, final,
    score, box), and of ``extra`` (an attribute name)."""
    raw = f"{el.get('class') or ''} {el.get('id') or ''} {extra}"
    raw = re.sub(r"([a-z])([A-Z])", r"\1 \2", raw)
    return {w for w in re.split(r"[^a-z0-9]+", raw.lower()) if w}


def _boxy(el: HtmlElement) -> bool:
    """Whether the class or id names a score box ("scorecard", "review-box", "rating")."""
    return any(box in word for word in words(el) for box in _BOXY)


def _up(el: HtmlElement, levels: int = _ANCESTORS) -> Iterator[HtmlElement]:
    """``el`` and up to ``levels`` of its ancestors."""
    node: HtmlElement | None = el
    for _ in range(levels + 1):
        if node is None:
            return
        yield node
        node = node.getparent()


def _foreign(el: HtmlElement) -> bool:
    """Readers' ratings, or a card linking to another post."""
    if el.xpath("ancestor-or-self::a"):
        return True
    return any(words(node) & _FOREIGN for node in el.iterancestors()) or bool(words(el) & _FOREIGN)


def _hint(el: HtmlElement) -> float | None:
    """A scale the box states: a scale attribute, else a star or percentage class."""
    for node in _up(el):
        for name, value in node.attrib.items():
            if _SCALE_ATTR.match(name):
                try:
                    return number(str(value).strip())
                except ValueError:
                    continue
    for node in _up(el):
        found = words(node)
        if found & {"star", "stars"}:
            return 5.0
        if found & {"percent", "percentage"}:
            return 100.0
    return None


@dataclass(frozen=True)
class _Candidate:
    el: HtmlElement
    score: tuple[float, float]
    overall: bool
    criterion: bool


def _value(raw: str, hint: float | None) -> tuple[float, float] | None:
    match = _SCORE_VALUE.match(raw)
    if not match:
        return None
    value = number(match.group(1))
    if match.group(3):
        scale = number(match.group(3))
    elif match.group(2):
        scale = 100.0
    else:
        scale = guess_scale(value, hint)
    return (value, scale) if 0 <= value <= scale and 1 <= scale <= 100 else None


def _label_of(el: HtmlElement) -> str:
    """The element's own short text, else the text just before it: where "Overall" sits."""
    own = text_of(el) or ""
    if len(own) <= 40 and re.search(r"[A-Za-z]", own):
        return own
    previous, parent = el.getprevious(), el.getparent()
    if previous is not None:
        return text_of(previous) or ""
    return (parent.text or "") if parent is not None else ""


def _candidates(root: HtmlElement) -> list[_Candidate]:
    found: list[_Candidate] = []
    for el in root.xpath(".//*[@*[starts-with(name(), 'data-')]]"):
        for name, raw in el.attrib.items():
            if not _SCORE_ATTR.match(name) or _foreign(el):
                continue
            score = _value(str(raw), _hint(el))
            if score is None:
                continue
            marks = words(el, name)
            overall = bool(marks & _OVERALL) or bool(_OVERALL_LABEL.match(_label_of(el)))
            found.append(_Candidate(el, score, overall, bool(marks & _CRITERION)))
            break
    return found


_RATING = (
    './/*[@itemprop="reviewRating" or @property="reviewRating" or @property="schema:reviewRating"'
    ' or contains(@itemtype, "schema.org/Rating") or @typeof="Rating" or @typeof="schema:Rating"]'
)


def _schema_prop(scope: HtmlElement, name: str) -> str | None:
    found = scope.xpath(
        f'.//*[@itemprop="{name}" or @property="{name}" or @property="schema:{name}"]'
    )
    if not found:
        return None
    raw = found[0].get("content") or text_of(found[0])
    return str(raw).strip() if raw else None


def schema_rating(root: HtmlElement) -> tuple[float, float] | None:
    """Rule 0: a schema.org ``Rating`` in microdata or RDFa, or ``None``."""
    for el in root.xpath(_RATING):
        if "AggregateRating" in f"{el.get('itemtype') or ''} {el.get('typeof') or ''}":
            continue
        best = _schema_prop(el, "bestRating")
        try:
            hint = number(best) if best else None
        except ValueError:
            hint = None
        value = _schema_prop(el, "ratingValue") or ""
        score = _value(value, hint if hint is not None else 5.0)
        if score and not _foreign(el):
            return score
    return None


def data_score(root: HtmlElement) -> tuple[float, float] | None:
    """Rule 1: the overall score given in data attributes, or ``None``."""
    found = _candidates(root)
    marked = [c for c in found if c.overall and not c.criterion]
    if marked:
        return marked[0].score
    elements = {c.el for c in found}
    outermost = [c for c in found if not any(a in elements for a in c.el.iterancestors())]
    plain = [c for c in outermost if not c.criterion]
    if len(plain) == 1:  # one box total, or the one row not marked as a criterion
        return plain[0].score
    return None


def final_score(root: HtmlElement) -> tuple[float, float] | None:
    """Rule 2: the text of an element marked final/overall/total in a score box."""
    for el in root.xpath(".//*[@class or @id]"):
        if not _MAYBE_OVERALL.search(f"{el.get('class') or ''} {el.get('id') or ''}"):
            continue  # the cheap test first: most elements name no total
        marks = words(el)
        if not marks & _OVERALL or marks & _CRITERION:
            continue
        if not any(_boxy(node) for node in _up(el)) or _foreign(el):
            continue
        text = text_of(el) or ""
        if not text or len(text) > 60:
            continue
        score = parse_score(text, _hint(el) or 10.0) or _lone_score(text, _hint(el))
        if score and 0 <= score[0] <= score[1] and 1 <= score[1] <= 100:
            return score
    return None


def _lone_score(text: str, hint: float | None) -> tuple[float, float] | None:
    """The one score in a short labelled text: "Final score 7.5 /10", "Overall 82%"."""
    fractions = re.findall(FRACTION, text, re.I)
    if len(fractions) == 1:
        return number(fractions[0][0]), number(fractions[0][1])
    numbers = re.findall(rf"{NUM}\s*(%)?", text)
    if len(numbers) == 1:
        value = number(numbers[0][0])
        return value, 100.0 if numbers[0][1] else guess_scale(value, hint)
    return None
