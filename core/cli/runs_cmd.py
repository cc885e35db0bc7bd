"""`python -m core runs list|show|stop|rename|delete`: the run store from the terminal."""

from __future__ import annotations

import json
import sys
import time

from core.cli.columns import display_width, pad
from core.i18n import N_, _, format_datetime

# The columns of `runs list` (the row values are the run store's, untranslated).
LIST_COLUMNS = [
    N_("id"), N_("name"), N_("method"), N_("backbone"), N_("status"), N_("epochs"),
    N_("val acc (95% CI)"), N_("created"),
]  # fmt: skip
# The columns of an epoch table: the epoch log's keys, each with its header.
EPOCH_COLUMNS = {
    "epoch": N_("epoch"),
    "loss": N_("loss"),
    "accuracy": N_("accuracy"),
    "val_loss": N_("val_loss"),
    "val_accuracy": N_("val_accuracy"),
    "seconds": N_("seconds"),
}
# Width of the labels of `runs show` ("status     finished").
LABEL_WIDTH = 10


def register(subparsers):
    parser = subparsers.add_parser("runs", help=_("list, show and manage training runs"))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help=_("all runs, newest first"))
    listing.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help=_("one run: config, status, summary, epochs, report"))
    show.add_argument("run_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    show.set_defaults(func=run_show)
    stop = actions.add_parser("stop", help=_("stop a queued or running run"))
    stop.add_argument("run_id", type=int, metavar="ID")
    stop.set_defaults(func=run_stop, json=False)
    rename = actions.add_parser("rename", help=_("give a run a new name"))
    rename.add_argument("run_id", type=int, metavar="ID")
    rename.add_argument("name")
    rename.set_defaults(func=run_rename, json=False)
    delete = actions.add_parser("delete", help=_("delete a run and its files"))
    delete.add_argument("run_id", type=int, metavar="ID")
    delete.set_defaults(func=run_delete, json=False)


def guarded(command):
    """Run a command body; a LabError becomes one line on stderr and exit status 1.

    Every such command reads the run store, so it first notices a dead worker
    (`core.runner.revive`): its runs are marked interrupted and the queue restarts.
    """

    def wrapper(args) -> int:
        from core.errors import LabError
        from core.runner import revive

        try:
            revive()
            return command(args)
        except LabError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"error": str(exc)}))
            print(_("error: {message}").format(message=exc), file=sys.stderr)
            return 1

    return wrapper


@guarded
def run_list(args) -> int:
    from core.runner import worker_state
    from core.store import RunStore

    store = RunStore()
    state = worker_state(store)
    records = store.list_runs()
    if args.json:
        from core.crossval import cv_groups, cv_summary

        groups = [cv_summary(runs).to_dict() for runs in cv_groups(records).values()]
        runs = [r.to_dict() for r in records]
        print(json.dumps({"runs": runs, "worker": state.to_dict(), "cv_groups": groups}))
        return 0
    if not records:
        print(_("no runs yet"))
    else:
        print(
            _table(
                [_(column) for column in LIST_COLUMNS],
                [_row(r, store) for r in records],
            )
        )
        _print_cv_groups(records)
    print(_worker_line(state))
    return 0


@guarded
def run_show(args) -> int:
    from core.store import RunStore

    store = RunStore()
    record = store.get(args.run_id)
    epochs = store.epochs(record.id)
    folder = store.run_folder(record.id)
    reports = {
        "report": _read_json(folder.report("validation")),
        "test_report": _read_json(folder.report("test")),
    }
    evaluations = [e.to_dict() for e in store.evaluations(record.id)]
    if args.json:
        print(json.dumps({"run": record.to_dict(), "epochs": epochs, **reports,
                          "evaluations": evaluations}))  # fmt: skip
        return 0
    print(_("run {run_id}: {name}").format(run_id=record.id, name=record.name))
    status = status_words(record.status) + (f" ({record.error})" if record.error else "")
    print(_field(_("status"), status))
    method = record.method + (f" ({record.backbone})" if record.backbone else "")
    print(_field(_("method"), method))
    from core.runs_view import epochs_text

    print(_field(_("epochs"), epochs_text(record, len(epochs))))
    dataset = _("{dataset} (fingerprint {fingerprint})").format(
        dataset=record.dataset, fingerprint=record.dataset_fingerprint or "-"
    )
    print(_field(_("dataset"), dataset))
    times = _("{created}   started {started}   finished {finished}").format(
        created=_when(record.created_at),
        started=_when(record.started_at),
        finished=_when(record.finished_at),
    )
    print(_field(_("created"), times))
    print(_field(_("folder"), str(store.runs_root / str(record.id))))
    print("\n" + _("config"))
    for key, value in record.config.to_dict().items():
        print(f"  {key:<24} {json.dumps(value, ensure_ascii=False)}")
    print("\n" + _("summary"))
    for key, value in record.summary.to_dict().items():
        print(f"  {key:<24} {_fmt(value)}")
    from core.runs_view import below_top_run_warning

    if below_top_run_warning(record.summary):
        print("\n" + _("warning: {message}").format(message=below_top_run_warning(record.summary)))
    print("\n" + _("epochs"))
    print(_epoch_table(epochs) if epochs else "  " + _("(none recorded)"))
    titles = {"report": _("validation report"), "test_report": _("test report")}
    for name, title in titles.items():
        if reports[name]:
            from core.metrics import EvalReport

            print("\n" + title)
            print(EvalReport.from_dict(reports[name]).to_text())
    print("\n" + _("hold-out evaluations"))
    none_yet = "  " + _("(none: python -m core evaluate)")
    print(_evaluation_lines(evaluations) if evaluations else none_yet)
    return 0


def _evaluation_lines(evaluations: list[dict]) -> str:
    """One line per stored evaluation: when, on what, accuracy with its interval."""
    return "\n".join(
        "  "
        + _(
            "{when}  {data} ({split}, tta {tta})  accuracy {accuracy} (95% CI {low}–{high}, n={n})"
        ).format(
            when=_when(e["created"]),
            data=e["data_path"],
            split=e["split"],
            tta=e["tta"],
            accuracy=f"{e['accuracy']:.3f}",
            low=f"{e['ci_low']:.3f}",
            high=f"{e['ci_high']:.3f}",
            n=e["n"],
        )  # fmt: skip
        for e in evaluations
    )


def _field(label: str, value: str) -> str:
    """ "status     finished": the label padded to `LABEL_WIDTH` terminal columns."""
    return pad(label, LABEL_WIDTH) + " " + value


@guarded
def run_stop(args) -> int:
    from core.store import RunStore

    store = RunStore()
    store.request_stop(args.run_id)
    print(
        _("run {run_id}: stop requested ({status})").format(
            run_id=args.run_id, status=status_words(store.get(args.run_id).status)
        )
    )
    return 0


@guarded
def run_rename(args) -> int:
    from core.store import RunStore

    RunStore().rename(args.run_id, args.name)
    print(_("run {run_id} renamed").format(run_id=args.run_id))
    return 0


@guarded
def run_delete(args) -> int:
    from core.store import RunStore

    RunStore().delete(args.run_id)
    print(_("run {run_id} deleted").format(run_id=args.run_id))
    return 0


def _print_cv_groups(records) -> None:
    """One line per k-fold cross-validation: its runs and mean ± sd over the folds."""
    from core.crossval import cv_groups, cv_summary, group_label

    for runs in cv_groups(records).values():
        print(
            _("{group}: validation accuracy {text}").format(
                group=group_label(runs), text=cv_summary(runs).text()
            )
        )


def _row(record, store) -> list[str]:
    s = record.summary
    accuracy = "-"
    if s.val_accuracy is not None:
        accuracy = f"{s.val_accuracy:.3f} ({s.val_ci_low or 0:.3f}-{s.val_ci_high or 0:.3f})"
    from core.runs_view import epochs_text  # Lazy: pandas stays out of the CLI's start-up.

    epochs = epochs_text(record, _logged_epochs(record, store))
    return [
        str(record.id),
        record.name,
        record.method,
        record.backbone or "-",
        status_words(record.status),
        epochs,
        accuracy,
        _when(record.created_at),
    ]


def _logged_epochs(record, store) -> int | None:
    """Epochs logged by a run that has started: its progress, when its summary lacks them."""
    return None if record.started_at is None else len(store.epochs(record.id))


def _worker_line(state) -> str:
    if state.running is not None:
        epoch, epochs = state.epoch or "-", state.epochs
        if state.eta_seconds is None:
            return _("worker: running run {run_id} (epoch {epoch}/{epochs}); {n} queued").format(
                run_id=state.running.id, epoch=epoch, epochs=epochs, n=state.queued
            )
        return _(
            "worker: running run {run_id} (epoch {epoch}/{epochs}, about {seconds} s left); "
            "{n} queued"
        ).format(
            run_id=state.running.id, epoch=epoch, epochs=epochs,
            seconds=f"{state.eta_seconds:.0f}", n=state.queued,
        )  # fmt: skip
    if state.alive:
        return _("worker: idle; {n} queued").format(n=state.queued)
    return _("worker: not running; {n} queued").format(n=state.queued)


def _epoch_table(epochs: list[dict]) -> str:
    keys = ["epoch"] + [k for k in list(EPOCH_COLUMNS)[1:] if any(k in e for e in epochs)]
    rows = [[_fmt(e.get(k)) for k in keys] for e in epochs]
    return _table([_(EPOCH_COLUMNS[k]) for k in keys], rows, indent="  ")


def _table(header: list[str], rows: list[list[str]], indent: str = "") -> str:
    widths = [
        max(display_width(str(x)) for x in column) for column in zip(header, *rows, strict=True)
    ]
    lines = [header] + rows
    return "\n".join(
        indent + "  ".join(pad(str(x), w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value) if not isinstance(value, (dict, list)) else json.dumps(value)


def _when(stamp: float | None) -> str:
    """A time stamp as the language writes dates ("2026-11-29 14:05", "2026년 11월 29일 14:05")."""
    if stamp is None:
        return "-"
    return format_datetime(time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)))


def status_words(status: str) -> str:
    """A run status in words, in the current language (the store's one definition)."""
    from core.store import status_text

    return status_text(status)


def _read_json(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
