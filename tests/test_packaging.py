"""The wheel carries what ``pip install .`` users need: every template, every migration, the
sample, and the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers.env import ROOT


def test_wheel_ships_templates_migrations_and_sample(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("review_newsletter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted((ROOT / "newsletter" / "migrations" / "versions").glob("[0-9]*.py"))
    templates = sorted(p for p in (ROOT / "templates").rglob("*") if p.is_file())
    assert len(migrations) >= 7 and templates  # the source tree itself is what it should be
    required = [
        *(f"newsletter/migrations/versions/{p.name}" for p in migrations),
        *(f"newsletter/templates/{p.relative_to(ROOT / 'templates')}" for p in templates),
        "newsletter/migrations/env.py",
        "newsletter/migrations/script.py.mako",
        "newsletter/sample/reviews.jsonl",
        "newsletter/sample/pageviews.csv",
        "newsletter/sample/subscribers.csv",
    ]
    missing = [name for name in required if name not in names]
    assert not missing, missing
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "newsletter = newsletter.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
