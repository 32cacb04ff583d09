"""The publication's six sections, the site categories that map onto them, and category masks.

A subscriber's picks and an issue variant are both stored as a bit mask over :data:`SECTIONS`
so that eligibility is one portable SQL expression (``mask = 0 OR mask & :issue_mask != 0``) and
a variant key is a small integer. Mask 0 means "every section", including :data:`OTHER`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SECTIONS: tuple[str, ...] = ("Film", "TV", "Anime", "Comics", "Video Games", "Tabletop")
OTHER = "Other"
ALL = 0

_SUBCATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "Previews",
            "PC",
            "PS5",
            "Xbox Series X/S",
            "Nintendo Switch",
            "Xbox One",
            "PS4",
            "Games",
            "Video Game",
            "Gaming",
        ),
        "Video Games",
    ),
    **dict.fromkeys(
        (
            "BOOM! Studios",
            "Dark Horse Comics",
            "DC Comics",
            "IDW Publishing",
            "Image Comics",
            "Indie Comics",
            "Marvel Comics",
            "Oni-Lion Forge",
            "Valiant Comics",
            "Vault Comics",
            "Comic",
            "Comic Books",
        ),
        "Comics",
    ),
    "K-Dramas": "TV",
    "Television": "TV",
    "Movies": "Film",
    "Movie": "Film",
    "Board Games": "Tabletop",
    "TTRPG": "Tabletop",
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9/!]+", "", name.casefold())


_SECTION_KEYS: dict[str, str] = {_key(s): s for s in SECTIONS}
_LOOKUP: dict[str, str] = dict(_SECTION_KEYS)
_LOOKUP.update({_key(k): v for k, v in _SUBCATEGORIES.items()})


def section_for(category: str | None) -> str | None:
    """Map a site category name onto a section, or ``None`` when it is not one of ours."""
    if not category:
        return None
    return _LOOKUP.get(_key(category))


def section_of(categories: Iterable[str]) -> str:
    """The section of a post given all its category names: the first that maps, else Other."""
    for name in categories:
        section = section_for(name)
        if section:
            return section
    return OTHER


def bit(section: str) -> int:
    """The mask bit of a section; Other has none (only "all sections" subscribers get it)."""
    return 1 << SECTIONS.index(section) if section in SECTIONS else 0


def mask_of(sections: Iterable[str]) -> int:
    mask = 0
    for section in sections:
        mask |= bit(section)
    return mask


def sections_of(mask: int) -> list[str]:
    """Sections in a mask, in section order; mask 0 (all) gives an empty list."""
    return [s for i, s in enumerate(SECTIONS) if mask & (1 << i)]


def parse_picks(text: str) -> list[str]:
    """Parse "film; Video Games|tv" into sections in section order.

    Raises ``ValueError`` naming the first unknown category. An empty text means all sections.
    """
    picked: set[str] = set()
    for part in re.split(r"[;,|]", text):
        name = part.strip()
        if not name:
            continue
        section = _SECTION_KEYS.get(_key(name))
        if section is None:
            raise ValueError(f"unknown category {name!r}")
        picked.add(section)
    return [s for s in SECTIONS if s in picked]


def wants(mask: int, section: str) -> bool:
    """Whether a subscriber with ``mask`` gets items of ``section``."""
    return mask == ALL or bool(mask & bit(section))
