"""`python -m core predict --run ID IMAGE... [--json]`: class probabilities per image."""

from __future__ import annotations

import json
import sys

from core.cli.runs_cmd import guarded
from core.i18n import _


def register(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help=_("class probabilities of images from a finished run's model"),
        description=_(
            "Classify images with a finished run's model. A file that is not an "
            "image is reported on stderr and the others are still classified (exit status 1)."
        ),
    )
    parser.add_argument("--run", type=int, required=True, dest="run_id", metavar="ID")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    add_tta_option(parser)
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.set_defaults(func=predict)


def add_tta_option(parser) -> None:
    """`--tta none|flip|crops`, shared by `predict` and `evaluate`."""
    parser.add_argument(
        "--tta",
        choices=("none", "flip", "crops"),
        default="none",
        help=_(
            "test-time augmentation: average over the mirror image (flip), and also four "
            "corner crops (crops)"
        ),
    )


@guarded
def predict(args) -> int:
    from core.predict import predict_images

    results = predict_images(args.run_id, args.images, tta=args.tta)
    if args.json:
        print(json.dumps({"run_id": args.run_id, "predictions": [r.to_dict() for r in results]}))
    for r in results:
        if not r.ok:
            print(_("error: {message}").format(message=r.error), file=sys.stderr)
        elif not args.json:
            probs = "  ".join(
                f"{c} {p:.4f}" for c, p in zip(r.class_names, r.probabilities, strict=True)
            )
            print(f"{r.source}: {r.predicted} ({r.confidence:.4f})   {probs}")
    return 0 if all(r.ok for r in results) else 1
