"""SpamAssassin's verdict on the messages ``newsletter demo`` writes (the real message path).

``spamassassin -t -L``: test mode, local tests only (no DNS blocklists, no network), with
Bayes auto-learning off and a throwaway home, so a run leaves nothing behind. The digest must
score at most 0.5: a rule that fires on it (the hidden preheader's low-contrast colour, +0.7,
was one) costs every reader's inbox placement. Skipped, with the reason, where SpamAssassin is
not installed (``scripts/test`` installs Debian's package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.content import demo_outbox
from tests.helpers.env import clean_environ

SPAMASSASSIN = shutil.which("spamassassin")
CEILING = 0.5

pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None,
    reason="spamassassin is not installed (Debian package spamassassin; scripts/test installs it)",
)


def verdict(message: Path, home: Path) -> tuple[float, list[str]]:
    """(score, rules hit) of ``spamassassin -t -L`` on ``message``."""
    assert SPAMASSASSIN is not None
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [SPAMASSASSIN, "-t", "-L", "--cf=bayes_auto_learn 0", "--cf=use_bayes 0"],
        input=message.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
        env=clean_environ(HOME=str(home)),
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    head = result.stdout.split(b"\n\n", 1)[0].decode(errors="replace")
    status = re.search(r"^X-Spam-Status:(.*(?:\n[ \t].*)*)", head, re.MULTILINE)
    assert status, head
    field = re.sub(r",\s+", ",", " ".join(status.group(1).split()))  # unfolded
    score = re.search(r"score=(-?\d+(?:\.\d+)?)", field)
    tests = re.search(r"tests=(\S*)", field)
    assert score and tests, field
    return float(score.group(1)), [t for t in tests.group(1).split(",") if t and t != "none"]


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return demo_outbox(tmp_path_factory.mktemp("spam") / "demo")


@pytest.mark.parametrize("which", ["fullest", "leanest"])
def test_a_demo_message_scores_at_most_half_a_point(
    outbox: list[Path], which: str, tmp_path: Path
) -> None:
    message = outbox[0] if which == "fullest" else outbox[-1]
    score, rules = verdict(message, tmp_path / "home")
    print(f"{which} ({message.name}): score={score} tests={','.join(rules)}")
    assert score <= CEILING, f"{message.name} scored {score}: {', '.join(rules)}"
    assert "HTML_FONT_LOW_CONTRAST" not in rules
