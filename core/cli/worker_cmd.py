"""`python -m core worker`: the background worker (internal; the app starts it)."""

from core.i18n import _
from core.runner import IDLE_TIMEOUT_S, run_worker


def register(subparsers):
    parser = subparsers.add_parser(
        "worker",
        help=_("(internal) run queued training runs one at a time"),
        description=_(
            "Run queued training runs one at a time, then exit when idle. "
            "The app and `enqueue` start it; there is no need to run it by hand."
        ),
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        help=_("seconds without queued runs before exiting (default {seconds})").format(
            seconds=f"{IDLE_TIMEOUT_S:g}"
        ),
    )
    parser.set_defaults(func=worker)


def worker(args) -> int:
    return run_worker(idle_timeout=args.idle_timeout)
