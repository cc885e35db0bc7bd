"""Hold-out evaluations: runs scored on another labelled folder, kept with the run.

`evaluate_and_store` scores a finished run on a folder (`core.predict.evaluate_run`:
a folder of class sub-folders, a train/validation layout, or "demo") and keeps the
figures in the run store's `evaluations` table, so the Compare page shows them beside
validation accuracy and `runs show` lists them. Standard library only at import.

Example:

    stored = evaluate_and_store(run_id, "/data/more_pets", tta="flip")
    for e in list_evaluations(run_id):
        print(e.data_label, e.accuracy, e.n)
"""

from __future__ import annotations

from pathlib import Path

from core.store import RunStore, StoredEvaluation


def stored_from(evaluation) -> StoredEvaluation:
    """The figures of a `core.predict.Evaluation` as the store keeps them."""
    from core.runs_view import spec_label

    report = evaluation.report
    data = str(evaluation.data)
    if data.lower() != "demo":
        data = str(Path(data).expanduser().resolve())  # one name per folder, typed as it may
    return StoredEvaluation(
        run_id=int(evaluation.run_id),
        data_path=data,
        data_label=spec_label(str(evaluation.data), english=True),  # stored, not shown
        split=evaluation.split,
        n=int(report.n),
        accuracy=float(report.accuracy),
        ci_low=float(report.ci_low),
        ci_high=float(report.ci_high),
        tta=evaluation.tta,
    )


def evaluate_and_store(
    run_id: int, data, split: str | None = None, tta: str = "none", store: RunStore | None = None
) -> StoredEvaluation:
    """Score a run on a labelled folder and keep the result with the run.

    Raises:
        RunError: the run is not usable.
        DatasetError: the folder is unusable, or its classes differ from the run's.
    """
    from core.predict import evaluate_run

    store = store or RunStore()
    evaluation = evaluate_run(run_id, data, split=split, store=store, tta=tta)
    return store.add_evaluation(stored_from(evaluation))


def list_evaluations(run_id: int, store: RunStore | None = None) -> list[StoredEvaluation]:
    """A run's stored hold-out evaluations, oldest first."""
    return (store or RunStore()).evaluations(run_id)


def holdout_sets(evaluations: list[StoredEvaluation]) -> list[str]:
    """The folders evaluated on (`data_path`), the most recently used first."""
    newest_first = sorted(evaluations, key=lambda e: e.created, reverse=True)
    return list(dict.fromkeys(e.data_path for e in newest_first))


def latest_by_run(evaluations: list[StoredEvaluation], data_path: str) -> dict:
    """{run_id: its latest evaluation on `data_path`}."""
    latest: dict[int, StoredEvaluation] = {}
    for e in sorted(evaluations, key=lambda e: e.created):
        if e.data_path == data_path:
            latest[e.run_id] = e
    return latest
