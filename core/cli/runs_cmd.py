"""`python -m core runs list|show|stop|rename|delete`: the run store from the terminal."""

from __future__ import annotations

import json
import sys
import time


def register(subparsers):
    parser = subparsers.add_parser("runs", help="list, show and manage training runs")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="all runs, newest first")
    listing.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one run: config, status, summary, epochs, report")
    show.add_argument("run_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    show.set_defaults(func=run_show)
    stop = actions.add_parser("stop", help="stop a queued or running run")
    stop.add_argument("run_id", type=int, metavar="ID")
    stop.set_defaults(func=run_stop, json=False)
    rename = actions.add_parser("rename", help="give a run a new name")
    rename.add_argument("run_id", type=int, metavar="ID")
    rename.add_argument("name")
    rename.set_defaults(func=run_rename, json=False)
    delete = actions.add_parser("delete", help="delete a run and its files")
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
            print(f"error: {exc}", file=sys.stderr)
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
        print("no runs yet")
    else:
        print(
            _table(
                [
                    "id",
                    "name",
                    "method",
                    "backbone",
                    "status",
                    "epochs",
                    "val acc (95% CI)",
                    "created",
                ],
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
    print(f"run {record.id}: {record.name}")
    print(f"status     {record.status}" + (f" ({record.error})" if record.error else ""))
    print(f"method     {record.method}" + (f" ({record.backbone})" if record.backbone else ""))
    from core.runs_view import epochs_text

    print(f"epochs     {epochs_text(record, len(epochs))}")
    print(f"dataset    {record.dataset} (fingerprint {record.dataset_fingerprint or '-'})")
    print(
        f"created    {_when(record.created_at)}   started {_when(record.started_at)}"
        f"   finished {_when(record.finished_at)}"
    )
    print(f"folder     {store.runs_root / str(record.id)}")
    print("\nconfig")
    for key, value in record.config.to_dict().items():
        print(f"  {key:<24} {json.dumps(value)}")
    print("\nsummary")
    for key, value in record.summary.to_dict().items():
        print(f"  {key:<24} {_fmt(value)}")
    from core.runs_view import below_top_run_warning

    if below_top_run_warning(record.summary):
        print(f"\nwarning: {below_top_run_warning(record.summary)}")
    print("\nepochs")
    print(_epoch_table(epochs) if epochs else "  (none recorded)")
    for name, title in (("report", "validation"), ("test_report", "test")):
        if reports[name]:
            from core.metrics import EvalReport

            print(f"\n{title} report")
            print(EvalReport.from_dict(reports[name]).to_text())
    print("\nhold-out evaluations")
    print(_evaluation_lines(evaluations) if evaluations else "  (none: python -m core evaluate)")
    return 0


def _evaluation_lines(evaluations: list[dict]) -> str:
    """One line per stored evaluation: when, on what, accuracy with its interval."""
    return "\n".join(
        f"  {_when(e['created'])}  {e['data_path']} ({e['split']}, tta {e['tta']})  "
        f"accuracy {e['accuracy']:.3f} (95% CI {e['ci_low']:.3f}–{e['ci_high']:.3f}, n={e['n']})"
        for e in evaluations
    )


@guarded
def run_stop(args) -> int:
    from core.store import RunStore

    store = RunStore()
    store.request_stop(args.run_id)
    print(f"run {args.run_id}: stop requested ({store.get(args.run_id).status})")
    return 0


@guarded
def run_rename(args) -> int:
    from core.store import RunStore

    RunStore().rename(args.run_id, args.name)
    print(f"run {args.run_id} renamed")
    return 0


@guarded
def run_delete(args) -> int:
    from core.store import RunStore

    RunStore().delete(args.run_id)
    print(f"run {args.run_id} deleted")
    return 0


def _print_cv_groups(records) -> None:
    """One line per k-fold cross-validation: its runs and mean ± sd over the folds."""
    from core.crossval import cv_groups, cv_summary, group_label

    for runs in cv_groups(records).values():
        print(f"{group_label(runs)}: validation accuracy {cv_summary(runs).text()}")


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
        record.status,
        epochs,
        accuracy,
        _when(record.created_at),
    ]


def _logged_epochs(record, store) -> int | None:
    """Epochs logged by a run that has started: its progress, when its summary lacks them."""
    return None if record.started_at is None else len(store.epochs(record.id))


def _worker_line(state) -> str:
    if state.running is not None:
        eta = "" if state.eta_seconds is None else f", about {state.eta_seconds:.0f} s left"
        epoch = f"epoch {state.epoch or '-'}/{state.epochs}"
        return f"worker: running run {state.running.id} ({epoch}{eta}); {state.queued} queued"
    alive = "idle" if state.alive else "not running"
    return f"worker: {alive}; {state.queued} queued"


def _epoch_table(epochs: list[dict]) -> str:
    keys = ["epoch"] + [
        k
        for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")
        if any(k in e for e in epochs)
    ]
    rows = [[_fmt(e.get(k)) for k in keys] for e in epochs]
    return _table(keys, rows, indent="  ")


def _table(header: list[str], rows: list[list[str]], indent: str = "") -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = [header] + rows
    return "\n".join(
        indent + "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value) if not isinstance(value, (dict, list)) else json.dumps(value)


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _read_json(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
