"""k-fold cross-validation results (issue 10): the runs of one group, summed up.

`training.create_cv_runs` creates the K runs of a cross-validation, each holding out
one fold of train+validation (`datasets.fold_dataset`) and sharing a `cv_group` in
its config. Here they are grouped and summarised: the mean validation accuracy over
the finished folds, its standard deviation (ddof=1) and a 95% interval for the mean
(Student's t over folds). Standard library only, like the store.

Example:

    summary = cv_summary(cv_groups(store.list_runs())[group])
    print(summary.text())  # "0.812 ± 0.031 over 5 folds (95% interval 0.774–0.850)"
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from core.i18n import _

# Student's t, two-sided 95% (the 0.975 quantile), for 1..19 degrees of freedom: the
# folds are at most 20 (`TrainConfig.validate`). Checked against scipy in the tests.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
)  # fmt: skip


@dataclass
class CvSummary:
    """One cross-validation's figures.

    Attributes:
        group: the `cv_group` its runs share.
        n_folds: K, the folds planned.
        per_fold: `{fold: validation accuracy}` of the finished folds (0-based folds).
        run_ids: `{fold: run id}` of every fold's run.
        finished: how many folds finished (the mean is over those).
        mean, sd: mean and standard deviation (ddof=1) of the finished folds'
            accuracies (sd needs two folds); None when they cannot be computed.
        ci_low, ci_high: the 95% interval of the mean (t over folds), or None.
    """

    group: str
    n_folds: int
    per_fold: dict[int, float] = field(default_factory=dict)
    run_ids: dict[int, int] = field(default_factory=dict)
    finished: int = 0
    mean: float | None = None
    sd: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def text(self) -> str:
        """The result in words, e.g. "0.812 ± 0.031 over 5 folds (95% interval 0.774–0.850)"."""
        if self.mean is None:
            return _("no fold finished yet (0/{n_folds})").format(n_folds=self.n_folds)
        spread = "" if self.sd is None else f" ± {self.sd:.3f}"
        if self.finished == self.n_folds:
            folds = _("{n} folds").format(n=self.finished)
        else:
            folds = _("{finished}/{n_folds} folds finished").format(
                finished=self.finished, n_folds=self.n_folds
            )
        words = {"mean": f"{self.mean:.3f}", "spread": spread, "folds": folds}
        if self.ci_low is None:
            return _("{mean}{spread} over {folds}").format(**words)
        interval = f"{self.ci_low:.3f}–{self.ci_high:.3f}"
        return _("{mean}{spread} over {folds} (95% interval {interval})").format(
            interval=interval, **words
        )

    def to_dict(self) -> dict:
        return {
            "group": self.group,
            "n_folds": self.n_folds,
            "finished": self.finished,
            "mean": self.mean,
            "sd": self.sd,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "per_fold": [
                {"fold": f, "run_id": self.run_ids.get(f), "val_accuracy": self.per_fold.get(f)}
                for f in sorted(self.run_ids)
            ],
        }


def t_quantile_975(df: int) -> float:
    """Student's t 0.975 quantile for `df` degrees of freedom (1..19; beyond, 1.96)."""
    return _T975[df - 1] if df <= len(_T975) else 1.96


def cv_groups(records: list) -> dict[str, list]:
    """`{cv_group: its runs in fold order}` for the cross-validated runs among `records`
    (in the order the groups first appear)."""
    groups: dict[str, list] = {}
    for record in records:
        group = record.config.cv_group
        if group is not None:
            groups.setdefault(group, []).append(record)
    return {g: sorted(runs, key=lambda r: r.config.fold or 0) for g, runs in groups.items()}


def cv_summary(records: list) -> CvSummary:
    """The summary of one group's runs (`RunRecord`s sharing a `cv_group`).

    Only finished folds with a validation accuracy count; the others are listed in
    `run_ids` and leave `finished` below `n_folds`.
    """
    first = records[0].config
    summary = CvSummary(group=first.cv_group or "", n_folds=first.folds or len(records))
    for record in records:
        summary.run_ids[record.config.fold] = record.id
        accuracy = record.summary.val_accuracy
        if record.status == "finished" and accuracy is not None:
            summary.per_fold[record.config.fold] = accuracy
    values = [summary.per_fold[f] for f in sorted(summary.per_fold)]
    summary.finished = len(values)
    if values:
        summary.mean = statistics.fmean(values)
    if len(values) >= 2:
        summary.sd = statistics.stdev(values)  # ddof=1
        half = t_quantile_975(len(values) - 1) * summary.sd / math.sqrt(len(values))
        summary.ci_low, summary.ci_high = summary.mean - half, summary.mean + half
    return summary


def group_label(records: list) -> str:
    """How a group is named in tables: "5-fold scratch, runs #12–#16"."""
    first = records[0]
    ids = [r.id for r in records]
    return _("{k}-fold {method}, runs #{first}–#{last}").format(
        k=first.config.folds, method=first.method, first=min(ids), last=max(ids)
    )
