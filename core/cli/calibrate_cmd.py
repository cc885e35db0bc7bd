"""`python -m core calibrate --run ID [--json]`: fit a temperature on validation predictions."""

from __future__ import annotations

import json

from core.cli.runs_cmd import guarded
from core.i18n import _


def register(subparsers):
    parser = subparsers.add_parser(
        "calibrate",
        help=_("make a run's probabilities trustworthy (temperature scaling)"),
        description=_(
            "Fit one temperature on a run's validation predictions so that its "
            "confidence matches its accuracy, record it in the run's folder, and use it for the "
            "run's predictions from then on. Prints the expected calibration error before and "
            "after. The predicted classes do not change."
        ),
    )
    parser.add_argument("--run", type=int, required=True, dest="run_id", metavar="ID")
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.set_defaults(func=calibrate)


@guarded
def calibrate(args) -> int:
    from core.calibration import calibrate_run

    fit = calibrate_run(args.run_id)
    if args.json:
        print(json.dumps(fit.to_dict()))
    else:
        print(
            _(
                "run {run_id}: temperature {temperature} on {n} validation images; "
                "expected calibration error {before} -> {after}"
            ).format(
                run_id=fit.run_id,
                temperature=f"{fit.temperature:.3f}",
                n=fit.n,
                before=f"{fit.ece_before:.3f}",
                after=f"{fit.ece_after:.3f}",
            )
        )
    return 0
