"""`python -m core augment preview ...`: the blog's save_to_dir trick from the shell."""

import argparse
import sys
from pathlib import Path

from core.augment_config import PRESETS, AugmentConfig
from core.errors import LabError
from core.i18n import _, ngettext


def register(subparsers) -> None:
    parser = subparsers.add_parser("augment", help=_("Look at augmented images."))
    commands = parser.add_subparsers(dest="augment_command", metavar="ACTION", required=True)
    preview = commands.add_parser(
        "preview",
        help=_("Write N augmented variants of one image (and the original) as PNG files."),
    )
    preview.add_argument("--image", required=True, type=Path, help=_("the source image file"))
    source = preview.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=sorted(PRESETS), help=_("a named preset"))
    source.add_argument(
        "--config", help=_("settings as JSON text, or a path to a JSON file (AugmentConfig fields)")
    )
    preview.add_argument("--n", type=int, default=9, help=_("number of variants (default 9)"))
    preview.add_argument("--seed", type=int, default=0, help=_("random draw (default 0)"))
    preview.add_argument("--size", type=int, default=150, help=_("square size in px (default 150)"))
    preview.add_argument("--out", required=True, type=Path, help=_("folder for the PNG files"))
    preview.set_defaults(func=preview_cmd)


def preview_cmd(args: argparse.Namespace) -> int:
    """Decodes the image, augments it, writes `<stem>_original.png`, `<stem>_00.png`, ..."""
    try:
        config = _config(args)
        if args.n < 1 or args.seed < 0 or args.size < 8:
            raise ValueError(_("--n must be at least 1, --seed at least 0 and --size at least 8."))
        from core.augment import preview, save_previews
        from core.imaging import load_square

        image = load_square(args.image, args.size, "stretch")
        variants = preview(image, config, n=args.n, seed=args.seed)
        paths = save_previews(variants, args.out, prefix=args.image.stem, original=image)
    except (LabError, ValueError, OSError) as err:
        print(_("error: {message}").format(message=err), file=sys.stderr)
        return 2
    print(
        ngettext("wrote {n} file to {folder}", "wrote {n} files to {folder}", len(paths)).format(
            n=len(paths), folder=args.out
        )
    )
    return 0


def _config(args: argparse.Namespace) -> AugmentConfig:
    if args.preset:
        return PRESETS[args.preset]
    text = args.config
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ValueError(
                _("--config {text} is neither JSON text nor an existing JSON file.").format(
                    text=text
                )
            )
        text = path.read_text(encoding="utf-8")
    return AugmentConfig.from_json(text)
