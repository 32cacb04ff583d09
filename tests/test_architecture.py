"""The house rules that no single feature test would notice breaking: the layer contracts, module
sizes, self-contained tests and docs, and settings documented from their one declaration."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from newsletter.config import settings_table
from tests.helpers.env import ROOT

PACKAGE = ROOT / "newsletter"
MAX_LINES = 400


def test_the_import_contracts_hold() -> None:
    """Layers, pure composition, faces only through the services, no cycles (pyproject.toml)."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command, "import-linter is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 80
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_nothing_cites_files_outside_the_repository() -> None:
    """The README and docs/ are the documentation; code and docs never point outside."""
    places = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*")]
    places += [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), ROOT / "worker.py"]
    outside = [
        str(path.relative_to(ROOT))
        for path in places
        if path.is_file()
        and path != Path(__file__)
        and ("SPEC.md" in (text := path.read_text(encoding="utf-8")) or "shared/SPEC" in text)
    ]
    assert outside == []


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_test_module_imports_another() -> None:
    """Shared fixtures live in tests/conftest.py, shared helpers in tests/helpers/."""
    offenders = {}
    for path in (ROOT / "tests").rglob("*.py"):
        bad = {
            name
            for name in _imported_modules(path)
            if name.split(".")[-1].startswith("test_")
            or name.split(".")[-1] == "conftest"
            or (name.startswith("tests.") and not name.startswith("tests.helpers"))
        }
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_the_readme_table_of_settings_is_generated_from_their_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "run: newsletter settings --markdown"


def test_the_lazily_loaded_surfaces_hold_every_name_they_list() -> None:
    """``newsletter.services`` and ``newsletter.ingest`` load their names on first use; a
    name listed but not loadable would only fail when a face first reached for it."""
    import importlib

    for package in ("newsletter.services", "newsletter.ingest"):
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"
