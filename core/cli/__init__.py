"""The command line: `python -m core <command> ...`.

This file only registers sub-commands. Each command module exposes
`register(subparsers)`, which adds its parser and sets `func` to a function
taking the parsed arguments and returning the exit status.
"""

import argparse
import importlib

# One module per command group, each owned by the core module it drives.
COMMAND_MODULES = [
    "data", "augment", "train", "runs", "evaluate", "compare", "calibrate",
    "predict", "export", "worker",
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Little Data Lab: image classifiers from very little data.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"core.cli.{name}_cmd").register(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
