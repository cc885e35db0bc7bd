"""`python -m core calibrate --run ID [--json]`: fit a temperature on validation predictions."""

from __future__ import annotations

import json

from core.cli.runs_cmd import guarded


def register(subparsers):
    parser = subparsers.add_parser(
        "calibrate",
        help="make a run's probabilities trustworthy (temperature scaling)",
        description="Fit one temperature on a run's validation predictions so that its "
        "confidence matches its accuracy, record it in the run's folder, and use it for the "
        "run's predictions from then on. Prints the expected calibration error before and "
        "after. The predicted classes do not change.",
    )
    parser.add_argument("--run", type=int, required=True, dest="run_id", metavar="ID")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(func=calibrate)


@guarded
def calibrate(args) -> int:
    from core.calibration import calibrate_run

    fit = calibrate_run(args.run_id)
    if args.json:
        print(json.dumps(fit.to_dict()))
    else:
        print(
            f"run {fit.run_id}: temperature {fit.temperature:.3f} on {fit.n} validation images; "
            f"expected calibration error {fit.ece_before:.3f} -> {fit.ece_after:.3f}"
        )
    return 0
