"""Rendering a page in Korean, and the check that no English sentence is left on it.

Each page's test module spot-checks a fixed list of the sentences its page shows: in
English they are on the page; in Korean none of them is, and the Korean page renders
without an exception.
"""

from streamlit.testing.v1 import AppTest

LANGUAGE = "ldl_language"  # labui.LANGUAGE (not imported: labui imports streamlit's runtime)
# Element kinds whose text a user reads.
TEXT_ELEMENTS = (
    "title", "header", "subheader", "markdown", "caption", "text", "info", "warning",
    "error", "success", "button", "checkbox", "toggle", "radio", "selectbox",
    "multiselect", "slider", "select_slider", "number_input", "text_input", "expander",
    "tabs", "metric",
)  # fmt: skip


def render(page: str, language: str, timeout: int = 120, setup=None) -> AppTest:
    """Runs `page` (a file) with the session language set, after `setup(at)` if given."""
    at = AppTest.from_file(page, default_timeout=timeout)
    at.session_state[LANGUAGE] = language
    if setup:
        setup(at)
    return at.run()


def visible_text(at: AppTest) -> str:
    """Everything a user reads on the rendered page: values, labels, help and options."""
    parts = []
    for kind in TEXT_ELEMENTS:
        for element in at.get(kind):
            for attribute in ("value", "label", "help", "body", "placeholder"):
                value = getattr(element, attribute, None)
                if isinstance(value, str):
                    parts.append(value)
            proto = getattr(element, "proto", None)
            for attribute in ("label", "help", "body", "placeholder"):
                value = getattr(proto, attribute, None)
                if isinstance(value, str):
                    parts.append(value)
            options = getattr(element, "options", None)
            if options:
                parts += [str(o) for o in options]
    return "\n".join(parts)


def assert_spoken(at: AppTest, english: list[str], language: str) -> None:
    """No exception; in English every spot-check sentence shows, in Korean none does."""
    assert not at.exception, at.exception
    text = visible_text(at)
    if language == "en":
        missing = [s for s in english if s not in text]
        assert not missing, f"the spot-check list is stale (not on the English page): {missing}"
    else:
        left = [s for s in english if s in text]
        assert not left, f"English left on the Korean page: {left}"
        assert any("\uac00" <= c <= "\ud7a3" for c in text), "no Korean on the Korean page"
