"""No page can render Streamlit internals by accident ("magic" on a bare expression)."""

import ast

import pytest
import tomllib

from core.paths import PROJECT_ROOT

SCRIPTS = sorted(PROJECT_ROOT.glob("pages/*.py")) + [
    PROJECT_ROOT / "labui.py",
    PROJECT_ROOT / "streamlit_app.py",
]


def bare_expressions(source: str) -> list[int]:
    """Line numbers of expression statements that magic would render: anything but a
    docstring, a call (`st.write(...)`), an `await` or a `yield`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Expr):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            continue  # a docstring (or a string comment)
        if isinstance(value, ast.Call | ast.Await | ast.Yield | ast.YieldFrom):
            continue
        lines.append(node.lineno)
    return lines


def test_the_scan_catches_a_conditional_expression_statement():
    source = 'ok = True\ncol3.caption("x") if ok else col3.warning("y")\n"""doc"""\nst.write(1)\n'
    assert bare_expressions(source) == [2]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_bare_expression_in_pages(script):
    assert bare_expressions(script.read_text("utf-8")) == [], script


def test_magic_is_off_and_uploads_are_bounded():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["runner"]["magicEnabled"] is False
    assert config["server"]["maxUploadSize"] <= 200  # MB; not "1GB per file"
