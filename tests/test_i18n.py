"""English and Korean: the catalogs match the code, no page shows an unmarked string,
the language rules, the formats, and the CLI in both languages."""

import ast
import os
import subprocess
import sys

import pytest

from core import i18n
from core.paths import PROJECT_ROOT

# The pages and UI helpers: every string they show is marked (and so translated).
UI_FILES = [
    PROJECT_ROOT / "charts.py",
    PROJECT_ROOT / "labui.py",
    PROJECT_ROOT / "pages" / "augment.py",
    PROJECT_ROOT / "pages" / "compare.py",
    PROJECT_ROOT / "pages" / "data.py",
    PROJECT_ROOT / "pages" / "guide.py",
    PROJECT_ROOT / "pages" / "home.py",
    PROJECT_ROOT / "pages" / "predict.py",
    PROJECT_ROOT / "pages" / "train.py",
    PROJECT_ROOT / "streamlit_app.py",
]
# Streamlit calls whose text argument a user reads.
_TEXT_CALLS = {
    "title", "header", "subheader", "markdown", "caption", "write", "text", "info",
    "warning", "error", "success", "button", "checkbox", "toggle", "radio", "selectbox",
    "multiselect", "slider", "select_slider", "number_input", "text_input", "file_uploader",
    "form_submit_button", "download_button", "expander", "tabs", "metric", "page_link",
    "spinner", "status", "popover", "toast", "segmented_control", "pills", "link_button",
}  # fmt: skip
_TEXT_KEYWORDS = {"label", "help", "caption", "placeholder", "text", "title"}
# Said the same in both languages: the product's name and the language picker's label.
_SAME_IN_BOTH = {"Little Data Lab", "Language / 언어"}


def _words(node) -> str | None:
    """The literal text of an argument that is a plain (unmarked) string with a letter."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    else:
        return None
    if text in _SAME_IN_BOTH or not any(c.isalpha() for c in text):
        return None
    return text


def _is_logger(node) -> bool:
    return isinstance(node, ast.Name) and node.id in {"_log", "log", "logger", "logging"}


def unmarked_strings(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in _TEXT_CALLS or _is_logger(node.func.value):
            continue
        arguments = node.args[:1] + [k.value for k in node.keywords if k.arg in _TEXT_KEYWORDS]
        for argument in arguments:
            text = _words(argument)
            if text:
                found.append(f"{path.name}:{node.lineno}: {text[:60]!r}")
    return found


def test_every_string_a_page_shows_is_marked_for_translation():
    found = [line for path in UI_FILES for line in unmarked_strings(path)]
    assert not found, "wrap these in _() (core.i18n):\n" + "\n".join(found)


def test_the_unmarked_string_check_can_fail(tmp_path):
    page = tmp_path / "page.py"
    page.write_text('import streamlit as st\nst.button("Start training")\nst.caption(_("ok"))\n')
    assert unmarked_strings(page) == ["page.py:2: 'Start training'"]


def test_catalogs_translate_every_marked_string_and_are_compiled():
    pytest.importorskip("babel", reason="Babel manages the catalogs (requirements-dev.txt)")
    from core.i18n_catalog import problems

    found = problems()
    assert not found, "\n".join(found[:40])


def test_a_message_missing_from_the_catalog_is_reported(monkeypatch):
    pytest.importorskip("babel", reason="Babel manages the catalogs (requirements-dev.txt)")
    from core import i18n_catalog

    original = i18n_catalog.extract

    def with_a_new_message():
        catalog = original()
        catalog.add("A sentence nobody translated yet", locations=[("pages/x.py", 1)])
        return catalog

    monkeypatch.setattr(i18n_catalog, "extract", with_a_new_message)
    assert any("A sentence nobody translated yet" in p for p in i18n_catalog.problems())


@pytest.mark.parametrize(
    "tag, expected",
    [("ko", "ko"), ("ko-KR", "ko"), ("ko_KR.UTF-8", "ko"), ("en-GB", "en"), ("fr", None),
     ("C", None), (None, None), ("", None)],
)  # fmt: skip
def test_normalize(tag, expected):
    assert i18n.normalize(tag) == expected


def test_browser_language_by_preference():
    assert i18n.from_accept_language("fr-FR,ko;q=0.8,en;q=0.5") == "ko"
    assert i18n.from_accept_language("en;q=0.4,ko-KR;q=0.9") == "ko"
    assert i18n.from_accept_language("de,fr") is None
    assert i18n.from_accept_language(None) is None


def test_cli_language_from_posix_variables():
    assert i18n.from_environment({"LANG": "ko_KR.UTF-8"}) == "ko"
    assert i18n.from_environment({"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}) == "en"
    assert i18n.from_environment({"LC_MESSAGES": "ko_KR"}) == "ko"
    assert i18n.from_environment({}) == "en"


def test_messages_and_formats_follow_the_language():
    assert i18n._("Compare") == "Compare"
    assert i18n.format_accuracy(0.969, 0.954, 0.979, 800) == "0.969 (95% CI 0.954–0.979, n = 800)"
    i18n.set_language("ko")
    assert i18n._("Compare") == "비교"
    assert i18n.format_accuracy(0.969, 0.954, 0.979, 800) == (
        "0.969 (95% 신뢰구간 0.954–0.979, n = 800)"
    )
    assert i18n.ngettext("{n} run queued", "{n} runs queued", 3).format(n=3) == "대기 중인 실행 3개"
    assert i18n.format_datetime("2026-11-29T14:05:00") == "2026년 11월 29일 14:05"
    i18n.set_language("en")
    assert i18n.format_datetime("2026-11-29T14:05:00") == "2026-11-29 14:05"


def test_session_language_wins_over_the_process_language():
    i18n.set_language("en")
    i18n.set_language_source(lambda: "ko")
    try:
        assert i18n._("Train") == "학습"
    finally:
        i18n.set_language_source(None)


def _cli(*args, **env):
    environment = {**os.environ, "LC_ALL": "", "LANGUAGE": "", "LANG": "C.UTF-8", **env}
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=environment, timeout=120,
    )  # fmt: skip


def test_cli_help_in_korean_with_lang_or_locale():
    korean = _cli("--lang", "ko", "--help")
    assert korean.returncode == 0
    assert "사용법:" in korean.stdout and "아주 적은 데이터" in korean.stdout
    assert _cli("--help", LANG="ko_KR.UTF-8").stdout == korean.stdout
    english = _cli("--help")
    assert "usage:" in english.stdout and "사용법" not in english.stdout


def test_cli_errors_in_korean():
    result = _cli("--lang", "ko", "train", "--method", "nope", "--data", "demo")
    assert result.returncode == 2
    assert "오류" in result.stderr and "잘못된 선택" in result.stderr


_USER_ERRORS = {
    "LabError", "DatasetError", "ImageError", "DownloadError", "ZipImportError",
    "WeightsError", "RunError",
}  # fmt: skip


def unmarked_errors(path) -> list[str]:
    """`raise SomeLabError("plain text")`: a sentence users read, not marked."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        name = getattr(func, "id", None) or getattr(func, "attr", None)
        if name in _USER_ERRORS and node.exc.args and _words(node.exc.args[0]):
            found.append(f"{path.name}:{node.lineno}: {_words(node.exc.args[0])[:60]!r}")
    return found


def test_every_error_sentence_core_raises_is_marked(tmp_path):
    found = [
        line
        for path in sorted((PROJECT_ROOT / "core").rglob("*.py"))
        for line in unmarked_errors(path)
    ]
    assert not found, "wrap these in _() (core.i18n):\n" + "\n".join(found)
    module = tmp_path / "module.py"
    module.write_text('raise DatasetError(f"{path} is empty")\nraise RunError(_("ok"))\n')
    assert unmarked_errors(module) == ["module.py:1: ' is empty'"]
