"""The README's pictures exist and stay small (checked without a browser)."""

from core.paths import PROJECT_ROOT


def test_screenshots_for_readme_are_small():
    """The README's screenshots (copied from a good run of tests/e2e) stay small."""
    docs = PROJECT_ROOT / "docs" / "screenshots"
    assert (docs / "train.png").is_file(), "the README shows docs/screenshots/train.png"
    for png in docs.glob("*.png"):
        assert png.stat().st_size <= 300_000, png
