"""How close the Train page's time estimate lands to the real epoch, per method.

    python bench/estimate_accuracy.py [--data PATH] [--backbone mobilenet_v2_1.0]
        [--epochs 3] [--baseline COMMIT] [--out bench/results/estimate_accuracy]

For each method at its defaults (scratch, bottleneck, finetune on the bottleneck
run's top), in a fresh app home (no feature cache): asks `core.estimate.measure`
(the "Estimate time per epoch" button), then trains `--epochs` epochs through the
real trainer (`core.training.start_run`, decoding included) and compares:

- the steady epoch: the estimate against the measured wall time between the ends of
  consecutive epochs after the first (validation, callbacks and checkpoint included);
- the once-only costs: decoding, feature extraction and the first epoch's extra time.

`--baseline` also asks the estimate of an earlier commit (default: the one before
this rework), loaded from git, for the before/after ratio. Needs `KERAS_HOME` with the
backbone's ImageNet weights (`../shared/keras_home`). Writes a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE = "6bf5e2b"  # the estimate before it timed real epochs


def _baseline_module(commit: str):
    """`core/estimate.py` as it was at `commit`, as a module, or None without git."""
    try:
        text = subprocess.run(
            ["git", "show", f"{commit}:core/estimate.py"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "estimate_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("estimate_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def one_method(method, data, backbone, epochs, store, top_run, baseline) -> dict:
    from core import estimate, pipeline
    from core.datasets import load_dataset
    from core.train_config import TrainConfig
    from core.training import start_run

    changes = {"data": data, "epochs": epochs}
    if method != "scratch":
        changes["backbone"] = backbone
    if method == "finetune":
        changes["top_run"] = top_run
    config = TrainConfig.defaults(method, **changes)
    ds = load_dataset(data, val_fraction=config.val_fraction, seed=config.seed)
    n_train, n_val = len(ds.splits["train"]), len(ds.splits["validation"])
    load_before = _load()
    pipeline.clear_cache()
    start = time.perf_counter()
    guess = estimate.measure(config, ds.num_classes, n_train, n_val, dataset=ds)
    measure_seconds = time.perf_counter() - start
    old = None
    if baseline is not None:
        old = baseline.measure(config, ds.num_classes, n_train, n_val).seconds_per_epoch
    pipeline.clear_cache()  # decode for real, as a new worker would
    run_id = start_run(config, store)
    # Asked again after training: the load on a shared machine drifts, and the two
    # estimates bracket the training between them.
    after = estimate.measure(config, ds.num_classes, n_train, n_val, dataset=ds)
    record = store.get(run_id)
    rows = store.epochs(run_id)
    cycles = [b["time"] - a["time"] for a, b in zip(rows, rows[1:], strict=False)]
    steady = statistics.mean(cycles) if cycles else rows[0]["seconds"]
    s = record.summary
    measured_once = {
        "decode": s.decode_seconds or 0.0,
        "extract": 0.0 if s.feature_cache_hit else s.extract_seconds or 0.0,
        "warmup": max(0.0, rows[0]["seconds"] - steady),
    }
    return {
        "method": method,
        "run_id": run_id,
        "status": record.status,
        "estimate_s": guess.seconds_per_epoch,
        "estimate_after_s": after.seconds_per_epoch,
        "ratio_after": after.seconds_per_epoch / steady,
        "baseline_estimate_s": old,
        "measured_s": steady,
        "epoch_seconds": [r["seconds"] for r in rows],
        "epoch_cycles": cycles,
        "ratio": guess.seconds_per_epoch / steady,
        "baseline_ratio": None if old is None else old / steady,
        "once_estimate": guess.once_parts,
        "once_measured": measured_once,
        "measure_seconds": measure_seconds,
        "load_before": load_before,
        "load_after": _load(),
        "val_accuracy": s.val_accuracy,
    }


def report(results: list[dict], args, seconds: float) -> str:
    lines = [
        "# Time estimates against measured epochs",
        "",
        f"Data: `{args.data}`; backbone {args.backbone}; each method at its defaults "
        f"(150 px, batch 16), {args.epochs} epochs through `core.training.start_run`; "
        "fine-tuning from the bottleneck run's top. Command: "
        f"`python bench/estimate_accuracy.py --data {args.data} --epochs {args.epochs}`.",
        "",
        "Steady epoch: the mean wall time between the ends of consecutive epochs after "
        "the first. Ratio: estimate / measured (goal 0.7–1.3); the estimate is asked "
        "before training and again after it (the load of the shared machine drifts). "
        f"Baseline: the estimate at commit {args.baseline} (before this rework).",
        "",
        "| method | estimate s/epoch | measured s/epoch | ratio | asked again after | "
        "ratio after | baseline estimate | baseline ratio | epochs (s) | load 1-min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base, base_ratio = r["baseline_estimate_s"], r["baseline_ratio"]
        base_text = "- | -" if base is None else f"{base:.1f} | {base_ratio:.2f}"
        lines.append(
            f"| {r['method']} | {r['estimate_s']:.1f} | {r['measured_s']:.1f} | "
            f"{r['ratio']:.2f} | {r['estimate_after_s']:.1f} | {r['ratio_after']:.2f} | "
            f"{base_text} | "
            f"{', '.join(f'{x:.1f}' for x in r['epoch_seconds'])} | "
            f"{r['load_before']:.1f} → {r['load_after']:.1f} |"
        )
    lines += ["", "Once-only costs (seconds), estimate / measured:", ""]
    for r in results:
        parts = sorted(set(r["once_estimate"]) | set(r["once_measured"]))
        figures = ", ".join(
            f"{p} {r['once_estimate'].get(p, 0):.0f} / {r['once_measured'].get(p, 0):.0f}"
            for p in parts
        )
        lines.append(f"- {r['method']}: {figures} (measuring took {r['measure_seconds']:.0f} s)")
    lines += [
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, shared with other work "
        f"(1-minute load average in the table); total {seconds:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cats_vs_dogs"))
    parser.add_argument("--backbone", default="mobilenet_v2_1.0")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--methods", default="scratch,bottleneck,finetune")
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--out", default=str(ROOT / "bench/results/estimate_accuracy"))
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        args.data = "/work/shared/datasets/cats_vs_dogs"
    os.environ["LDL_HOME"] = tempfile.mkdtemp(prefix="ldl-estimate-bench-")
    from core.store import RunStore

    store = RunStore()
    baseline = _baseline_module(args.baseline) if args.baseline else None
    start = time.perf_counter()
    results, top_run = [], None
    for method in args.methods.split(","):
        result = one_method(method, args.data, args.backbone, args.epochs, store, top_run, baseline)
        if method == "bottleneck":
            top_run = result["run_id"]
        results.append(result)
        print(json.dumps(result), flush=True)
    text = report(results, args, time.perf_counter() - start)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps(results, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
