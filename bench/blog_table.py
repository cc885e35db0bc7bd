"""The blog's table, reproduced: the three methods on cats_vs_dogs with the blog's settings.

    python bench/blog_table.py [--data PATH] [--epochs N] [--limit N] [--backbones ...]

Runs, through `core.training` exactly as the lab does: the small CNN from scratch;
then for each backbone whose ImageNet weights are present (VGG16 when its file is in
the Keras cache, else skipped with a note; MobileNetV2 1.0 from ../shared/keras_home
always) a bottleneck run and a fine-tuning run starting from that bottleneck run's
top model. Blog settings unless overridden: 150 px, batch 16, 50 epochs, RMSprop for
scratch and bottleneck, SGD(1e-4, momentum 0.9) for fine-tuning, the blog's
augmentation for scratch and fine-tuning. Writes bench/results/blog_table.md and
.json: validation accuracy with its 95% Wilson interval and n, epochs, seconds per
epoch, and the machine. `--epochs`/`--limit` make a short run (say so in the report).
`--methods ...,improved` adds the lab's "improved small CNN" (issue 10; not the blog's,
opt-in: ~30 min more) with its own defaults (128 px, batch 32, AdamW, cosine schedule).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch_epoch import machine, resolve_data  # noqa: E402

SHARED = ROOT.parent / "shared"
# The blog's validation accuracies, and the goals with MobileNetV2.
BLOG = {"scratch": "0.79-0.81", "bottleneck": "0.90-0.91", "finetune": "0.94", "improved": "-"}
GOALS = {"scratch": 0.80, "bottleneck": 0.95, "finetune": 0.97, "improved": 0.85}


def run_one(config, store) -> dict:
    from core.errors import LabError
    from core.training import start_run

    start = time.perf_counter()
    try:
        run_id = start_run(config, store)
    except LabError as exc:
        return {"method": config.method, "status": "failed", "error": str(exc)}
    record = store.get(run_id)
    s, epochs = record.summary, store.epochs(run_id)
    later = [e["seconds"] for e in epochs[1:]] or [e["seconds"] for e in epochs]
    return {
        "run_id": run_id,
        "method": config.method,
        "backbone": record.backbone,
        "status": record.status,
        "val_accuracy": s.val_accuracy,
        "ci": [s.val_ci_low, s.val_ci_high],
        "n": s.val_n,
        "best_val_accuracy": s.best_val_accuracy,
        "epochs": s.epochs_run,
        "seconds_per_epoch": statistics.median(later) if later else None,
        "first_epoch_seconds": epochs[0]["seconds"] if epochs else None,
        "extract_seconds": s.extract_seconds,
        "total_seconds": time.perf_counter() - start,
        "trainable_params": s.trainable_params,
        "total_params": s.total_params,
    }


def run_table(args) -> dict:
    from core.backbones import weights_status
    from core.store import RunStore
    from core.train_config import TrainConfig

    store = RunStore()
    common = dict(image_size=args.image_size, batch_size=16, seed=args.seed)
    if args.epochs:
        common["epochs"] = args.epochs
    data = str(args.data_dir)
    rows, notes = [], []
    methods = set(args.methods.split(","))
    if "scratch" in methods:
        print("scratch ...", file=sys.stderr, flush=True)
        rows.append(run_one(TrainConfig.defaults("scratch", data=data, **common), store))
    backbones = args.backbones.split(",") if methods & {"bottleneck", "finetune"} else []
    for backbone in filter(None, backbones):
        available, where = weights_status(backbone, args.image_size)
        if args.no_pretrained:
            common["pretrained"] = False  # a smoke run on a machine without the weights
            notes.append(f"{backbone}: random initial weights (--no-pretrained), not ImageNet")
        elif not available or "downloadable" in where:
            notes.append(f"{backbone} skipped: {where}")
            continue
        print(f"bottleneck {backbone} ...", file=sys.stderr, flush=True)
        top = run_one(
            TrainConfig.defaults(
                "bottleneck", data=data, backbone=backbone, head=args.head, **common
            ),
            store,
        )
        rows.append(top)
        if "finetune" not in methods:
            continue
        if top["status"] != "finished":
            notes.append(f"{backbone} fine-tuning skipped: its bottleneck run failed")
            continue
        print(f"finetune {backbone} ...", file=sys.stderr, flush=True)
        finetune = dict(common, top_run=top["run_id"])
        if args.finetune_epochs:
            finetune["epochs"] = args.finetune_epochs
        config = TrainConfig.defaults("finetune", data=data, backbone=backbone, **finetune)
        rows.append(run_one(config, store))
    if "improved" in methods:  # its own image size and batch: not the blog's settings
        print("improved ...", file=sys.stderr, flush=True)
        improved = {"epochs": args.epochs} if args.epochs else {}
        config = TrainConfig.defaults("improved", data=data, seed=args.seed, **improved)
        rows.append(run_one(config, store))
    return {"rows": rows, "notes": notes}


def markdown(report: dict) -> str:
    settings = report["settings"]
    short = settings["epochs"] or settings["limit"] or settings.get("finetune_epochs")
    lines = [
        "# The blog's table, reproduced",
        "",
        f"Data: `{settings['data']}`"
        + (f", first {settings['limit']} images per class and split" if settings["limit"] else "")
        + f"; {settings['image_size']} px, batch 16, "
        + (f"{settings['epochs']} epochs" if settings["epochs"] else "the blog's 50 epochs")
        + (
            f" ({settings['finetune_epochs']} for fine-tuning)"
            if settings.get("finetune_epochs")
            else ""
        )
        + f"; top model head: {settings['head']}; seed {settings['seed']}. "
        + f"Command: `{settings['command']}`.",
        "",
    ]
    if short:
        lines += [
            "**A short run** (fewer epochs and/or images than the blog's): "
            "the accuracies below are not the blog's experiment.",
            "",
        ]
    lines += [
        "| method | backbone | val accuracy | 95% CI | n | epochs | s/epoch | blog | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if r["status"] != "finished":
            lines.append(f"| {r['method']} | | {r['status']}: {r.get('error', '')} | | | | | | |")
            continue
        lo, hi = r["ci"]
        goal = (
            GOALS[r["method"]]
            if r["method"] in ("scratch", "improved") or "mobilenet_v2" in (r["backbone"] or "")
            else None
        )
        lines.append(
            f"| {r['method']} | {r['backbone'] or '-'} | {r['val_accuracy']:.4f} | "
            f"{lo:.3f}-{hi:.3f} | {r['n']} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | "
            f"{BLOG[r['method']]} | {'' if goal is None else f'>= {goal}'} |"
        )
    lines += [""] + [f"- {note}" for note in report["notes"]]
    m = report["machine"]
    lines += [
        "",
        f"Machine: {m['platform']}, {m['cpus']} CPUs, Keras {m['keras']} "
        f"({m['backend']}), devices {m.get('devices')}; total {report['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "datasets/cats_vs_dogs"))
    parser.add_argument("--epochs", type=int, help="all methods (default: the blog's 50)")
    parser.add_argument("--limit", type=int, help="images per class and split (short run)")
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--backbones", default="vgg16,mobilenet_v2_1.0")
    parser.add_argument("--finetune-epochs", type=int, help="fine-tuning only (CPU budget)")
    parser.add_argument(
        "--methods",
        default="scratch,bottleneck,finetune",
        help="a subset, comma-separated; add 'improved' for the improved small CNN's row",
    )
    parser.add_argument("--head", default="flatten", choices=["flatten", "gap"])
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--no-pretrained", action="store_true", help="smoke runs only")
    parser.add_argument("--out-dir", default=str(ROOT / "bench/results"))
    args = parser.parse_args()
    if "KERAS_HOME" not in os.environ and (SHARED / "keras_home/models").is_dir():
        os.environ["KERAS_HOME"] = str(SHARED / "keras_home")
    os.environ.setdefault("LDL_HOME", tempfile.mkdtemp(prefix="ldl_blog_table_"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        args.data_dir = resolve_data(args.data, args.limit, Path(scratch))
        report = run_table(args)
    report.update(
        seconds=time.perf_counter() - start,
        machine=machine(),
        settings={
            "data": args.data,
            "limit": args.limit,
            "epochs": args.epochs,
            "image_size": args.image_size,
            "seed": args.seed,
            "head": args.head,
            "methods": args.methods,
            "finetune_epochs": args.finetune_epochs,
            "command": "python bench/blog_table.py " + " ".join(sys.argv[1:]),
        },
    )
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "blog_table.json").write_text(json.dumps(report, indent=2))
    (out / "blog_table.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
