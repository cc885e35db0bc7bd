"""`python -m core compare RUN_A RUN_B [--data PATH] [--json]`: is B really better than A?"""

from __future__ import annotations

import json

from core.cli.runs_cmd import guarded
from core.i18n import _


def register(subparsers):
    parser = subparsers.add_parser(
        "compare",
        help=_("is one run really better than another? (McNemar's exact test)"),
        description=_(
            "Compare two runs on the same images with McNemar's exact test: the "
            "images only one of them gets right, the p-value, and a one-sentence reading. By "
            "default both runs' validation predictions are used; --data scores both on a "
            "labelled folder instead."
        ),
    )
    parser.add_argument("run_a", type=int, metavar="RUN_A")
    parser.add_argument("run_b", type=int, metavar="RUN_B")
    parser.add_argument("--data", help=_("a labelled folder (or 'demo') to score both runs on"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.set_defaults(func=compare)


@guarded
def compare(args) -> int:
    from core.significance import compare_runs

    result = compare_runs(args.run_a, args.run_b, data=args.data)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    for run_id, correct, accuracy in (
        (result.run_a, result.a_correct, result.a_accuracy),
        (result.run_b, result.b_correct, result.b_accuracy),
    ):
        print(
            _("run #{run_id}: {correct}/{n} right ({accuracy})").format(
                run_id=run_id, correct=correct, n=result.n, accuracy=f"{accuracy:.3f}"
            )
        )
    for run_id, only in ((result.run_a, result.a_only), (result.run_b, result.b_only)):
        print(_("right only under #{run_id}: {n}").format(run_id=run_id, n=only))
    print(_("McNemar exact p = {p}").format(p=f"{result.p_value:.4g}"))
    print(result.sentence())
    return 0
