"""`python -m core export --run ID --format {keras,savedmodel,tflite} --out PATH`."""

from __future__ import annotations

import json

from core.cli.runs_cmd import guarded
from core.export import FORMATS
from core.i18n import _


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help=_("export a finished run's model (.keras, SavedModel, TFLite)"),
        description=_(
            "Export a finished run's model. Models take float32 images in [0, 255] "
            "of the run's size and output class probabilities."
        ),
    )
    parser.add_argument("--run", type=int, required=True, dest="run_id", metavar="ID")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help=_("file (or folder for savedmodel)"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.set_defaults(func=export)


@guarded
def export(args) -> int:
    from core.export import export_run

    path = export_run(args.run_id, args.format, args.out)
    if args.json:
        print(json.dumps({"run_id": args.run_id, "format": args.format, "path": str(path)}))
    else:
        print(
            _("run {run_id} exported as {format}: {path}").format(
                run_id=args.run_id, format=args.format, path=path
            )
        )
    return 0
