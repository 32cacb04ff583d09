"""Running the command line as a user does: a real ``python -m newsletter`` process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.env import clean_environ


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``newsletter ARGS`` in ``cwd`` with only ``env``'s settings; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        env=clean_environ(**env),
        stdin=subprocess.DEVNULL,  # never a terminal: commands that confirm on one do not ask
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
