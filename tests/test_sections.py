"""Sections, subcategory mapping and category masks."""

from __future__ import annotations

import pytest

from newsletter.sections import (
    OTHER,
    mask_of,
    parse_picks,
    section_for,
    section_of,
    sections_of,
    wants,
)


@pytest.mark.parametrize(
    ("name", "section"),
    [
        ("Film", "Film"),
        ("film", "Film"),
        ("PS5", "Video Games"),
        ("Xbox Series X/S", "Video Games"),
        ("Marvel Comics", "Comics"),
        ("BOOM! Studios", "Comics"),
        ("K-Dramas", "TV"),
        ("Tabletop", "Tabletop"),
        ("video games", "Video Games"),
        ("News", None),
        ("Reviews", None),
        (None, None),
    ],
)
def test_site_categories_map_to_sections(name: str | None, section: str | None) -> None:
    assert section_for(name) == section


def test_first_mapped_category_wins_and_unknown_is_other() -> None:
    assert section_of(["Reviews", "Nintendo Switch", "Film"]) == "Video Games"
    assert section_of(["News", "Features"]) == OTHER


def test_masks_round_trip_in_section_order() -> None:
    mask = mask_of(["Tabletop", "Film", "Anime"])
    assert sections_of(mask) == ["Film", "Anime", "Tabletop"]
    assert wants(mask, "Film")
    assert not wants(mask, "TV")
    assert wants(0, "TV")
    assert wants(0, OTHER)
    assert not wants(mask, OTHER)


def test_parse_picks_accepts_separators_and_rejects_unknown() -> None:
    assert parse_picks("video games| film ;TV,") == ["Film", "TV", "Video Games"]
    assert parse_picks("") == []
    with pytest.raises(ValueError, match="unknown category 'Cooking'"):
        parse_picks("Film;Cooking")
    with pytest.raises(ValueError, match="unknown category 'PS5'"):
        parse_picks("PS5")  # a subscriber picks sections, not subcategories
