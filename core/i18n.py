"""English and Korean: gettext catalogs, the current language, and language-aware formats.

The messages live in gettext catalogs under `core/locale/` (`messages.pot`, and
`ko/LC_MESSAGES/messages.po` compiled to `.mo`), managed with Babel
(`python -m core.i18n_catalog extract|update|compile|check`, see the README).
English is the source language: an English message is its own msgid, so a
missing translation shows the English sentence, never a key.

Code marks what a user reads with `_()` (or `ngettext` for counts); constants built
at import time are marked with `N_()` and translated where they are shown, with `_()`.
Standard library only: pages and the CLI import it before anything heavy.

The language of a message is, in order: the app's session language (the app
registers `set_language_source`, so that every Streamlit session and fragment
thread asks its own session), else the process language (`set_language`; the CLI
sets it from `--lang`, `LC_ALL`, `LC_MESSAGES` or `LANG`), else English.

Example:

    from core.i18n import _, ngettext
    print(_("Validation accuracy"))
    print(ngettext("{n} run queued", "{n} runs queued", n).format(n=n))
"""

from __future__ import annotations

import functools
import gettext as _gettext
import os
import re
from collections.abc import Callable
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# The languages the lab speaks, each in its own words (the sidebar's choices).
LANGUAGES = {"en": "English", "ko": "한국어"}

_process_language = DEFAULT_LANGUAGE
_language_source: Callable[[], str | None] | None = None


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalog of `language` (English: the messages as written)."""
    if language == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def normalize(tag: str | None) -> str | None:
    """A language tag ("ko-KR", "ko_KR.UTF-8", "en", "C") as one of `LANGUAGES`, or None."""
    if not tag:
        return None
    match = re.match(r"[A-Za-z]{2,3}", tag.strip())
    code = match.group(0).lower() if match else ""
    return code if code in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The first of a browser's preferred languages (by q-value) that the lab speaks."""
    ranked = []
    for index, part in enumerate((header or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, index, tag))
    for _q, _i, tag in sorted(ranked):
        if normalize(tag):
            return normalize(tag)
    return None


def from_environment(environ: dict | None = None) -> str:
    """The CLI's language from the POSIX variables (LC_ALL, LC_MESSAGES, LANG), else English."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:  # the first one set decides, as in POSIX
            return normalize(value) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """The process language (the CLI's); unknown languages mean English."""
    global _process_language
    _process_language = normalize(language) or DEFAULT_LANGUAGE


def set_language_source(source: Callable[[], str | None] | None) -> None:
    """A callable giving the current session's language (or None: use the process's)."""
    global _language_source
    _language_source = source


def current_language() -> str:
    if _language_source is not None:
        language = normalize(_language_source())
        if language:
            return language
    return _process_language


def _(message: str) -> str:
    """`message` (English, the msgid) in the current language."""
    return translations(current_language()).gettext(message)


gettext = _


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the current language."""
    return translations(current_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a constant for the catalog without translating it (translate it when shown)."""
    return message


# --- language-aware formats --------------------------------------------------------------


def format_interval(low: float, high: float, digits: int = 3) -> str:
    """ "0.954–0.979" (the same in both languages)."""
    return f"{low:.{digits}f}–{high:.{digits}f}"


def format_accuracy(value: float, low: float | None, high: float | None, n: int | None) -> str:
    """ "0.969 (95% CI 0.954–0.979, n = 800)"; in Korean "0.969 (95% 신뢰구간 …, n = 800)"."""
    if low is None or high is None or not n:
        return f"{value:.3f}"
    return _("{value} (95% CI {interval}, n = {n})").format(
        value=f"{value:.3f}", interval=format_interval(low, high), n=format_count(n)
    )


def format_count(n: int) -> str:
    """A whole number with thousands separators ("2,000" in both languages)."""
    return f"{n:,}"


def format_datetime(text: str | None) -> str:
    """An ISO date-time as the language writes it: "2026-11-29 14:05" / "2026년 11월 29일 14:05"."""
    if not text:
        return ""
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})", text)
    if not match:
        return text
    year, month, day, hour, minute = match.groups()
    if current_language() == "ko":
        return f"{year}년 {int(month)}월 {int(day)}일 {hour}:{minute}"
    return f"{year}-{month}-{day} {hour}:{minute}"
