"""The docs: the README's pictures exist and stay small, ARCHITECTURE.md lists every module."""

import re

from core.paths import PROJECT_ROOT


def test_screenshots_for_readme_are_small():
    """The README's screenshots (copied from a good run of tests/e2e) stay small."""
    docs = PROJECT_ROOT / "docs" / "screenshots"
    assert (docs / "train.png").is_file(), "the README shows docs/screenshots/train.png"
    for png in docs.glob("*.png"):
        assert png.stat().st_size <= 300_000, png


def test_architecture_lists_every_core_module():
    """ARCHITECTURE.md has a row for each module of core/ (a new module comes with its line)."""
    text = (PROJECT_ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w/]+)` \|", text, re.M))
    modules = {p.stem for p in (PROJECT_ROOT / "core").glob("*.py") if not p.stem.startswith("__")}
    assert modules - listed == set(), "modules without a row in ARCHITECTURE.md"
    assert listed >= {"cli/"} and (PROJECT_ROOT / "core" / "cli").is_dir()
