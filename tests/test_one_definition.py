"""One definition of the method names, export formats and image types (issue 11): core
holds each, everything else imports it rather than spelling the names out again."""

import ast

from core.export import FORMATS
from core.imaging import IMAGE_EXTENSIONS, UPLOAD_TYPES
from core.paths import PROJECT_ROOT
from core.train_config import BLOG_METHODS, METHODS

SOURCES = (
    sorted(PROJECT_ROOT.glob("core/**/*.py"))
    + sorted(PROJECT_ROOT.glob("pages/*.py"))
    + [PROJECT_ROOT / name for name in ("labui.py", "charts.py", "streamlit_app.py")]
)


def spelled_out_lists(path, names: set[str], at_least: int) -> list[int]:
    """Lines of tuple/list/set literals of strings holding `at_least` of `names`."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if sum(str(v).lstrip(".") in names for v in values) >= at_least:
                lines.append(node.lineno)
    return lines


def test_method_names_formats_and_image_types_are_spelled_out_once():
    image_types = {ext[1:] for ext in IMAGE_EXTENSIONS}
    found = {}
    for path in SOURCES:
        name = str(path.relative_to(PROJECT_ROOT))
        checks = [
            ("methods", set(METHODS), 2, "core/train_config.py"),
            ("formats", set(FORMATS), 2, "core/export.py"),
            ("image types", image_types, 3, "core/imaging.py"),
        ]
        for what, names, at_least, owner in checks:
            lines = spelled_out_lists(path, names, at_least)
            if name == owner:
                assert lines, f"{owner} should define the {what}"
            elif lines:
                found[f"{name} ({what})"] = lines
    assert found == {}


def test_every_method_has_words_and_the_blog_s_are_methods():
    import labui

    assert list(labui.METHOD_WORDS) == list(METHODS)
    assert set(BLOG_METHODS) <= set(METHODS)
    assert sorted(UPLOAD_TYPES) == sorted(ext[1:] for ext in IMAGE_EXTENSIONS)


def test_the_cli_offers_the_export_formats_of_core():
    from core.cli import export_cmd

    assert export_cmd.FORMATS is FORMATS
