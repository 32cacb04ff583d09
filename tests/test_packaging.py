"""The wheel carries what ``pip install .`` users need: templates, migrations, the sample."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    for required in (
        "newsletter/templates/email/issue.html.j2",
        "newsletter/templates/email/issue.txt.j2",
        "newsletter/templates/web/outbox_index.html.j2",
        "newsletter/migrations/env.py",
        "newsletter/migrations/script.py.mako",
        "newsletter/migrations/versions/0001_initial.py",
        "newsletter/migrations/versions/0002_fetch_state.py",
        "newsletter/migrations/versions/0003_weekly_runs.py",
        "newsletter/sample/reviews.jsonl",
        "newsletter/sample/pageviews.csv",
        "newsletter/sample/subscribers.csv",
    ):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "newsletter = newsletter.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
