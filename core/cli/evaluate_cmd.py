"""`python -m core evaluate --run ID --data PATH [--json] [--no-save]`: score a run on labelled
images; the result is kept with the run (`runs show` lists it, Compare shows it) unless
`--no-save`."""

from __future__ import annotations

import json
import sys

from core.cli.predict_cmd import add_tta_option
from core.cli.runs_cmd import guarded
from core.i18n import _


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help=_("evaluate a finished run on a labelled folder"),
        description=_(
            "Evaluate a finished run on a folder of class sub-folders (every image), "
            "or on a dataset's test split (else its validation split). The classes must match "
            "the run's."
        ),
    )
    parser.add_argument("--run", type=int, required=True, dest="run_id", metavar="ID")
    parser.add_argument("--data", required=True, help=_("a folder of class sub-folders, or 'demo'"))
    parser.add_argument(
        "--split",
        choices=("train", "validation", "test", "all"),
        help=_("which split to evaluate (default: test, else validation; all for a plain folder)"),
    )
    add_tta_option(parser)
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.add_argument(
        "--no-save", action="store_true", help=_("do not keep the result with the run")
    )
    parser.set_defaults(func=evaluate)


@guarded
def evaluate(args) -> int:
    from core.holdout import stored_from
    from core.predict import evaluate_run
    from core.store import RunStore

    store = RunStore()
    result = evaluate_run(args.run_id, args.data, split=args.split, store=store, tta=args.tta)
    if not args.no_save:
        store.add_evaluation(stored_from(result))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(
            _("run {run_id} on {data} ({split})").format(
                run_id=result.run_id, data=result.data, split=result.split
            )
        )
        print(result.report.to_text())
    for path, reason in result.skipped:
        print(_("skipped {path}: {reason}").format(path=path, reason=reason), file=sys.stderr)
    return 0
