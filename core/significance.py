"""Is run B really better than run A on these n images? McNemar's exact test.

Two models scored on the same images are paired: what matters is only the images
on which they disagree about being right. Of those, `a_only` were right under A
alone and `b_only` under B alone; if the two models were equally good, each such
image would go either way with probability 1/2, so `b_only` follows a binomial
with `a_only + b_only` trials and p = 1/2. The exact two-sided p-value is twice
the smaller tail (at most 1). Pure Python: pages import it at start-up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from core.errors import RunError
from core.i18n import _


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """The exact two-sided McNemar p-value for the two discordant counts.

    Args:
        a_only: images that model A got right and model B got wrong.
        b_only: images that model B got right and model A got wrong.

    Returns:
        The p-value in [0, 1]; 1.0 when the models never disagree.

    Raises:
        ValueError: when a count is negative.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must be >= 0. Received: a_only={a_only}, b_only={b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass
class Comparison:
    """Two runs' paired predictions on the same images, and what they say."""

    run_a: int
    run_b: int
    n: int  # images both runs were scored on
    a_correct: int
    b_correct: int
    a_only: int  # right under A alone
    b_only: int  # right under B alone
    p_value: float

    @property
    def a_accuracy(self) -> float:
        return self.a_correct / self.n if self.n else 0.0

    @property
    def b_accuracy(self) -> float:
        return self.b_correct / self.n if self.n else 0.0

    def sentence(self, alpha: float = 0.05) -> str:
        """One sentence a user can act on."""
        counts = _(
            "they disagree on {disagree} of {n} images ({a_only} right only under run #{a}, "
            "{b_only} only under run #{b})"
        ).format(disagree=self.a_only + self.b_only, n=self.n, a_only=self.a_only,
                 b_only=self.b_only, a=self.run_a, b=self.run_b)  # fmt: skip
        if self.a_only == self.b_only:
            return _("Neither run is better on these {n} images: {counts}.").format(
                n=self.n, counts=counts
            )
        better, worse = (
            (self.run_b, self.run_a) if self.b_only > self.a_only else (self.run_a, self.run_b)
        )
        words = {"better": better, "worse": worse, "p": f"{self.p_value:.3g}", "counts": counts}
        if self.p_value < alpha:
            sentence = _("Run #{better} is really better than run #{worse} (p = {p}): {counts}.")
            return sentence.format(**words)
        return _(
            "Run #{better} looks better, but the difference could be chance (p = {p}): {counts}."
        ).format(**words)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "a_accuracy": self.a_accuracy,
            "b_accuracy": self.b_accuracy,
            "sentence": self.sentence(),
        }


def compare_correctness(run_a: int, run_b: int, a: dict[str, bool], b: dict[str, bool]):
    """A `Comparison` from each run's right/wrong per image path.

    Raises:
        RunError: when the runs were not scored on the same images.
    """
    if set(a) != set(b):
        raise RunError(
            _(
                "Runs #{a} and #{b} were scored on different images ({n} differ): compare them "
                "on one labelled folder instead."
            ).format(a=run_a, b=run_b, n=len(set(a) ^ set(b)))
        )
    paths = sorted(a)
    a_only = sum(a[p] and not b[p] for p in paths)
    b_only = sum(b[p] and not a[p] for p in paths)
    return Comparison(
        run_a=int(run_a), run_b=int(run_b), n=len(paths),
        a_correct=sum(a.values()), b_correct=sum(b.values()),
        a_only=a_only, b_only=b_only, p_value=mcnemar_exact(a_only, b_only),
    )  # fmt: skip


def compare_runs(run_a: int, run_b: int, data=None, store=None) -> Comparison:
    """Compare two runs on their validation predictions, or both scored on `data`.

    Args:
        run_a, run_b: two runs with models (finished or stopped).
        data: None to use each run's stored validation predictions (the runs must have
            been validated on the same images), else a labelled folder or "demo" on which
            both are evaluated now (see `core.predict.evaluate_run`).
        store: the run store (default: the app home's).

    Raises:
        RunError: a run has no predictions, or the runs saw different images.
        DatasetError: `data` is unusable or its classes differ from a run's.
    """
    from core.store import RunStore

    store = store or RunStore()
    if data is None:
        correct = [_stored_correctness(run, store) for run in (run_a, run_b)]
    else:
        from core.predict import evaluate_run

        correct = [evaluate_run(run, data, store=store).correct_by_path() for run in (run_a, run_b)]
    return compare_correctness(run_a, run_b, *correct)


def _stored_correctness(run_id: int, store) -> dict[str, bool]:
    from core.metrics import read_predictions_csv

    path = store.run_folder(run_id).predictions()
    if not path.is_file():
        from core.runs_view import status_text

        raise RunError(
            _(
                "Run #{run} has no validation predictions ({status}): only finished or stopped "
                "runs can be compared."
            ).format(run=run_id, status=status_text(store.get(run_id).status))
        )
    return {row["path"]: row["true"] == row["predicted"] for row in read_predictions_csv(path)}
