"""What test-time augmentation adds: one run scored with --tta none, flip and crops.

    LDL_SHARED=../shared KERAS_HOME=../shared/keras_home python bench/tta.py
        [--run ID] [--epochs 2] [--home DIR] [--out bench/results/tta]

On the shared cats-vs-dogs split (`$LDL_SHARED/datasets/cats_vs_dogs`, 800 validation
photos): with `--run`, that finished run of the app home (`LDL_HOME`); without it, a quick
bottleneck run (MobileNetV2 1.0 at the method's default size, `--epochs` epochs) is
trained first in a fresh temporary app home. Each TTA mode is scored through
`core.predict.evaluate_run` on the validation split: accuracy with its 95% Wilson
interval, n, wall seconds, and McNemar's exact test (`core.significance`) of flip and of
crops against none on the same images. Writes a Markdown table and JSON.
Without the shared data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("none", "flip", "crops")


def quick_bottleneck_run(data: Path, epochs: int, home: str | None) -> int:
    """A finished bottleneck run of MobileNetV2 1.0 on `data` in app home `home` (default:
    a fresh temporary one; an earlier one's feature cache spares the extraction)."""
    from core.store import RunStore
    from core.train_config import TrainConfig
    from core.training import start_run

    os.environ["LDL_HOME"] = home or tempfile.mkdtemp(prefix="ldl-tta-")
    config = TrainConfig.defaults(
        "bottleneck", data=str(data), backbone="mobilenet_v2_1.0", epochs=epochs, name="tta bench"
    )
    return start_run(config, RunStore())


def score(run_id: int, data: Path) -> dict:
    """Each TTA mode's evaluation on the validation split, with its wall seconds."""
    from core.predict import evaluate_run

    results = {}
    for mode in MODES:
        start = time.perf_counter()
        evaluation = evaluate_run(run_id, str(data), split="validation", tta=mode)
        results[mode] = (evaluation, time.perf_counter() - start)
    return results


def table(run_id: int, results: dict) -> tuple[str, list[dict]]:
    from core.significance import compare_correctness

    none = results["none"][0].correct_by_path()
    header = "| TTA | accuracy (95% CI) | n | seconds | McNemar vs none |"
    rows, lines = [], [header, "|---|---|---|---|---|"]
    for mode, (evaluation, seconds) in results.items():
        report = evaluation.report
        row = {"tta": mode, "accuracy": report.accuracy, "ci_low": report.ci_low,
               "ci_high": report.ci_high, "n": report.n, "seconds": round(seconds, 1)}  # fmt: skip
        test = "—"
        if mode != "none":
            c = compare_correctness(run_id, run_id, none, evaluation.correct_by_path())
            row.update(only_none=c.a_only, only_tta=c.b_only, p_value=c.p_value)
            test = f"{c.b_only} fixed, {c.a_only} broken, p = {c.p_value:.3f}"
        rows.append(row)
        lines.append(
            f"| {mode} | {report.accuracy:.3f} ({report.ci_low:.3f}–{report.ci_high:.3f}) "
            f"| {report.n} | {seconds:.1f} | {test} |"
        )
    return "\n".join(lines), rows


def main() -> int:
    from core.paths import shared_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=int, help="a finished run (default: train a quick one)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the quick run")
    parser.add_argument("--home", help="app home of the quick run (default: a fresh one)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/tta"))
    args = parser.parse_args()
    data = shared_dir() / "datasets" / "cats_vs_dogs"
    if not data.is_dir():
        print(f"skipped: the shared split {data} is absent (set LDL_SHARED).")
        return 0
    start = time.perf_counter()
    run_id = args.run
    if run_id is None:
        run_id = quick_bottleneck_run(data, args.epochs, args.home)
    trained = time.perf_counter() - start
    markdown, rows = table(run_id, score(run_id, data))
    what = f"run {run_id}" + ("" if args.run else f" (quick bottleneck run, {trained:.0f} s)")
    text = f"# TTA on {data.name} validation, {what}\n\n{markdown}\n"
    print(text)
    out = Path(args.out)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"run": run_id, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
