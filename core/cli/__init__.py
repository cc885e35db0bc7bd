"""The command line: `python -m core <command> ...`.

This file only registers sub-commands. Each command module exposes
`register(subparsers)`, which adds its parser and sets `func` to a function
taking the parsed arguments and returning the exit status.
"""

import argparse
import gettext
import importlib
import os

from core import i18n
from core.cli.columns import HelpFormatter
from core.i18n import _

# One module per command group, each owned by the core module it drives.
COMMAND_MODULES = [
    "data", "augment", "train", "runs", "evaluate", "compare", "calibrate",
    "predict", "export", "worker",
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description=_("Little Data Lab: image classifiers from very little data."),
    )
    parser.add_argument(
        "--lang",
        choices=list(i18n.LANGUAGES),
        help=_("language of the messages (default: from LC_ALL, LC_MESSAGES or LANG)"),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"core.cli.{name}_cmd").register(subparsers)
    for each in all_parsers(parser):  # Korean help wraps by terminal columns
        each.formatter_class = HelpFormatter
    return parser


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and every sub-command's parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += all_parsers(child)
    return found


def set_cli_language(argv: list[str]) -> str:
    """The language of this command: `--lang` (looked for before parsing, since the help
    is written in it), else the POSIX locale variables, else English."""
    language = None
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv):
            language = argv[index + 1]
        elif arg.startswith("--lang="):
            language = arg.partition("=")[2]
    language = i18n.normalize(language) or i18n.from_environment()
    i18n.set_language(language)
    # argparse's own words (usage, errors) come from gettext's default domain: ours.
    gettext.bindtextdomain(i18n.DOMAIN, str(i18n.LOCALE_DIR))
    gettext.textdomain(i18n.DOMAIN)
    os.environ["LANGUAGE"] = language
    return language


def main(argv=None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    set_cli_language(argv)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
