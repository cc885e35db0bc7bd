"""The translation catalogs, managed with Babel: extract, update, compile, check.

    python -m core.i18n_catalog extract   # the code's messages -> core/locale/messages.pot
    python -m core.i18n_catalog update    # merge the .pot into each language's .po
    python -m core.i18n_catalog compile   # .po -> .mo (what the app reads at run time)
    python -m core.i18n_catalog check     # exit 1 when a message lacks a translation

A development tool: Babel is in requirements-dev.txt, not in the app's requirements
(the app reads the committed `.mo` files with the standard library's gettext).
Messages are the arguments of `_()`, `gettext()`, `N_()` and `ngettext()` in the
pages, the entry script, labui.py, charts.py and core/, plus argparse's own words (usage,
options, errors), which the CLI shows in the same domain.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from core.i18n import DOMAIN, LANGUAGES, LOCALE_DIR
from core.paths import PROJECT_ROOT

SOURCES = ("streamlit_app.py", "labui.py", "charts.py", "pages", "core")
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
POT = LOCALE_DIR / f"{DOMAIN}.pot"
# argparse's own messages (it looks them up with gettext in the default domain, which
# the CLI binds to ours: `core.cli.set_cli_language`).
ARGPARSE_MESSAGES = (
    "usage: ",
    "options",
    "positional arguments",
    "show this help message and exit",
    "the following arguments are required: %s",
    "unrecognized arguments: %s",
    "invalid choice: %(value)r (choose from %(choices)s)",
    "%(prog)s: error: %(message)s\n",
    "argument %(argument_name)s: %(message)s",
    "expected one argument",
    "invalid %(type)s value: %(value)r",
    "not allowed with argument %s",
)


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def translated_languages() -> list[str]:
    return [language for language in LANGUAGES if language != "en"]


def extract():
    """A Babel `Catalog` of every message the code marks, with where each comes from."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    catalog = Catalog(project="Little Data Lab", charset="utf-8")
    for source in SOURCES:
        path = PROJECT_ROOT / source
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            if file.resolve() == Path(__file__).resolve():
                continue
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            found = extract_from_file(
                "python", str(file), keywords=KEYWORDS, comment_tags=("i18n:",)
            )
            for lineno, message, comments, context in found:
                catalog.add(
                    message, locations=[(relative, lineno)], auto_comments=comments, context=context
                )
    for message in ARGPARSE_MESSAGES:
        catalog.add(message, locations=[("argparse", 0)])
    return catalog


def write_catalog(catalog, path: Path) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, omit_header=False)
    path.write_bytes(buffer.getvalue())


def read_catalog(path: Path, language: str | None = None):
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def update(template) -> None:
    """Merge `template` into each language's .po (new messages empty, gone ones dropped)."""
    from babel.messages.catalog import Catalog

    for language in translated_languages():
        path = po_path(language)
        catalog = read_catalog(path, language) if path.exists() else Catalog(locale=language)
        catalog.update(
            template,
            update_header_comment=False,
            no_fuzzy_matching=True,
            update_creation_date=False,
        )
        catalog.obsolete.clear()
        write_catalog(catalog, path)


def compiled(language: str) -> bytes:
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(po_path(language), language))
    return buffer.getvalue()


def compile_all() -> None:
    for language in translated_languages():
        po_path(language).with_suffix(".mo").write_bytes(compiled(language))


def problems() -> list[str]:
    """What keeps the catalogs from matching the code: untranslated, missing or stale."""
    template = extract()
    found = []
    for language in translated_languages():
        path = po_path(language)
        if not path.exists():
            return [f"{path} is missing: run `python -m core.i18n_catalog update`"]
        catalog = read_catalog(path, language)
        for message in template:
            if not message.id:
                continue
            where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
            entry = catalog.get(message.id, context=message.context)
            if entry is None:
                found.append(f"{language}: not in the catalog: {message.id!r} ({where})")
            elif entry.fuzzy or not all(
                entry.string if isinstance(entry.string, tuple) else [entry.string]
            ):
                found.append(f"{language}: untranslated: {message.id!r} ({where})")
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(language):
            found.append(
                f"{mo} is not compiled from its .po: run `python -m core.i18n_catalog compile`"
            )
    return found


def _translated(entry) -> bool:
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return all(strings)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "extract":
        write_catalog(extract(), POT)
    elif command == "update":
        template = extract()
        write_catalog(template, POT)
        update(template)
    elif command == "compile":
        compile_all()
    elif command == "check":
        found = problems()
        print("\n".join(found) or "The catalogs match the code.")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
