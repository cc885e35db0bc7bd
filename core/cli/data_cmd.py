"""`python -m core data ...`: check, download and import datasets."""

import argparse
import json
import sys
from pathlib import Path

from core.errors import LabError
from core.i18n import _


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help=_("Check, download and import datasets."))
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    check = commands.add_parser("check", help=_("Print a dataset's health report."))
    check.add_argument("path", help=_("a dataset folder, or 'demo' for the built-in dataset"))
    check.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    check.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help=_("validation share when the folder has no validation split (default 0.2)"),
    )
    check.add_argument(
        "--seed", type=int, default=1337, help=_("seed of that split (default 1337)")
    )
    check.set_defaults(func=check_cmd)

    download = commands.add_parser("download", help=_("Download the Cats vs Dogs subset (68 MB)."))
    download.set_defaults(func=download_cmd)

    imp = commands.add_parser("import", help=_("Import a zipped dataset into the app home."))
    imp.add_argument("zip", type=Path, help=_("the .zip archive"))
    imp.add_argument("--name", help=_("dataset name (default: the archive's file name)"))
    imp.add_argument("--overwrite", action="store_true", help=_("replace a dataset of that name"))
    imp.set_defaults(func=import_cmd)


def check_cmd(args: argparse.Namespace) -> int:
    """Exit 0 when the dataset is usable (even with skipped files), 1 when not, 2 on error."""
    from core.datasets import load_dataset, resolve_dataset
    from core.health import health_report

    try:
        if args.path.strip().lower() == "demo":
            dataset = resolve_dataset("demo")
        else:
            dataset = load_dataset(args.path, val_fraction=args.val_fraction, seed=args.seed)
        report = health_report(dataset)
    except (LabError, ValueError) as err:
        return _fail(err)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    if not report.usable:
        print(_("error: {message}").format(message=" ".join(report.blocking)), file=sys.stderr)
        return 1
    return 0


def download_cmd(args: argparse.Namespace) -> int:
    from core.download import download_cats_vs_dogs

    try:
        root = download_cats_vs_dogs(progress=_print_progress)
    except LabError as err:
        return _fail(err)
    print("\n" + _("Cats vs Dogs is ready in {folder}").format(folder=root))
    return 0


def import_cmd(args: argparse.Namespace) -> int:
    from core.zipimport import import_zip

    try:
        root = import_zip(args.zip, name=args.name, overwrite=args.overwrite)
    except LabError as err:
        return _fail(err)
    print(_("Imported into {folder}").format(folder=root))
    return 0


def _fail(err: Exception) -> int:
    print(_("error: {message}").format(message=err), file=sys.stderr)
    return 2


def _print_progress(done: int, total: int) -> None:
    share = f"{100 * done / total:5.1f}%" if total else f"{done / 2**20:.1f} MB"
    print(
        "\r" + _("downloading... {share}").format(share=share), end="", file=sys.stderr, flush=True
    )
