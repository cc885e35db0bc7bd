"""The blog's table, reproduced, and the lab's defaults beside it (issue 10).

    KERAS_HOME=../shared/keras_home python bench/blog_table.py [--rows PATTERN,...]
        [--seeds 1337,1338,1339] [--finetune-epochs N] [--folds 5] [--home DIR]
        [--epochs N] [--limit N] [--redo] [--fresh]

Every row trains through `core.training` exactly as the lab does, on
`../shared/datasets/cats_vs_dogs` (2000 training, 800 validation photos):

- `blog/...`: the blog's settings (150 px, batch 16, 50 epochs, RMSprop; SGD 1e-4 with
  momentum 0.9 for fine-tuning): the small CNN once per seed of `--seeds` (its
  final-epoch accuracy swings from seed to seed: the report gives mean ± sd and the
  range), then per backbone whose ImageNet weights are present a bottleneck run and a
  fine-tuning run from that run's top model (VGG16 is skipped with a note when its
  weights are absent).
- `lab/...`: the lab's defaults: the pretrained methods at the backbone's native size
  (224 px), fine-tuning restoring its best epoch, and the "improved small CNN".
- `tta/...`: a finished lab row scored on validation with test-time augmentation
  (none, flip, crops), McNemar's exact test against none on the same 800 images.
- `cv/...`: k-fold cross-validation (`--folds`) of the native-size bottleneck run on
  train+validation pooled: per-fold accuracy, mean ± sd and Student's t 95% interval.
  `.../bottleneck-gap/...` rows put a global-average-pooling head on the features
  instead of the blog's Flatten (`lab/bottleneck-gap/...` on the fixed split beside it).

Rows are keyed (`--rows` takes fnmatch patterns, e.g. `'blog/scratch/*,lab/*'`); each
finished row is written to `bench/results/blog_table.json` at once and skipped by a
later invocation (`--redo` trains it again, `--fresh` forgets them all), so a long
table can be measured in several sittings. Runs live in one app home (`--home`, kept
between invocations); a finished run there with the same settings is reused instead
of trained again. `bench/results/blog_table.md` is rendered from all rows: every
accuracy with its n and 95% interval, seconds per epoch, wall and CPU minutes and the
load average while the row ran (figures from a loaded machine say so).
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import math
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
RESULTS = ROOT / "bench" / "results"
# The blog's validation accuracies, and the goals (MobileNetV2 for the pretrained).
BLOG = {"scratch": "0.79-0.81", "bottleneck": "0.90-0.91", "finetune": "0.94", "improved": "-"}
GOALS = {
    "blog": {"scratch": 0.80, "bottleneck": 0.95, "finetune": 0.97},
    "lab": {"bottleneck": 0.98, "finetune": 0.985, "improved": 0.85},
}
BACKBONE = "mobilenet_v2_1.0"  # the backbone whose ImageNet weights ../shared has


@dataclasses.dataclass
class Row:
    """One line of the report: what to train (or score) and under which key."""

    key: str
    table: str  # "blog", "lab", "tta" or "cv"
    method: str
    config: object = None  # a TrainConfig (finetune: top_run filled in at run time)
    top_key: str | None = None  # finetune: the row whose run is its top model
    source_key: str | None = None  # tta: the row whose run is scored


def plan(args) -> list[Row]:
    """Every row this invocation may run, in order (a fine-tune after its top)."""
    from core.train_config import TrainConfig

    data = str(args.data_dir)
    common = {"epochs": args.epochs} if args.epochs else {}
    finetune = dict(common, epochs=args.finetune_epochs) if args.finetune_epochs else common
    rows = [
        Row(
            f"blog/scratch/seed{seed}",
            "blog",
            "scratch",
            TrainConfig.blog("scratch", data=data, seed=seed, **common),
        )
        for seed in args.seeds
    ]
    for table, make in (("blog", TrainConfig.blog), ("lab", TrainConfig.defaults)):
        for backbone in args.backbones:
            top = f"{table}/bottleneck/{backbone}"
            rows.append(
                Row(
                    top,
                    table,
                    "bottleneck",
                    make("bottleneck", data=data, backbone=backbone, **common),
                )
            )
            rows.append(
                Row(
                    f"{table}/finetune/{backbone}",
                    table,
                    "finetune",
                    make("finetune", data=data, backbone=backbone, **finetune),
                    top_key=top,
                )
            )
    rows.append(
        Row(
            "lab/improved", "lab", "improved", TrainConfig.defaults("improved", data=data, **common)
        )
    )
    for backbone in args.backbones:
        for method in ("bottleneck", "finetune"):
            source = f"lab/{method}/{backbone}"
            rows.append(Row(f"tta/{method}/{backbone}", "tta", method, source_key=source))
        config = TrainConfig.defaults("bottleneck", data=data, backbone=backbone, **common)
        rows.append(Row(f"cv/bottleneck/{backbone}", "cv", "bottleneck", config))
        # The GAP head: 1280 inputs to Dense(256) instead of 7x7x1280, so an epoch costs
        # seconds instead of ~45 s at 224 px, which makes 5 folds affordable on 2 cores.
        gap = dataclasses.replace(config, head="gap")
        rows.append(Row(f"lab/bottleneck-gap/{backbone}", "lab", "bottleneck", gap))
        rows.append(Row(f"cv/bottleneck-gap/{backbone}", "cv", "bottleneck", gap))
    return rows


# --- running rows ------------------------------------------------------------------------


def find_finished(store, config) -> int | None:
    """A finished run of the app home with exactly `config`'s settings (the name aside)."""
    wanted = dataclasses.replace(config, name=None).to_dict()
    for record in store.list_runs():
        if record.status != "finished" or record.config is None:
            continue
        if dataclasses.replace(record.config, name=None).to_dict() == wanted:
            return record.id
    return None


class Meter:
    """Wall and CPU seconds, and the load average, over a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.load_start = os.getloadavg()[0]
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.load = [round(self.load_start, 1), round(os.getloadavg()[0], 1)]


def train_row(row: Row, store, done: dict) -> dict:
    from core.errors import LabError
    from core.training import start_run

    config = row.config
    if row.top_key:
        top = done.get(row.top_key, {})
        if top.get("status") != "finished":
            return {
                "status": "skipped",
                "error": f"its top model's row {row.top_key} did not finish",
            }
        config = dataclasses.replace(config, top_run=top["run_id"])
    config = dataclasses.replace(config, name=f"bench {row.key}")
    reused = find_finished(store, config)
    with Meter() as meter:
        try:
            run_id = reused if reused is not None else start_run(config, store)
        except LabError as exc:
            return {"status": "failed", "error": str(exc)}
    result = run_figures(store, run_id)
    if reused is None:  # timed here; a reused run's own timing is in its epochs
        result.update(wall_seconds=meter.wall, cpu_seconds=meter.cpu, load=meter.load)
    else:
        result["reused"] = True
    return result


def run_figures(store, run_id: int) -> dict:
    """A run's accuracy (with n and its Wilson interval) and timing, from the store."""
    record = store.get(run_id)
    s, epochs = record.summary, store.epochs(run_id)
    seconds = [e["seconds"] for e in epochs]
    return {
        "run_id": run_id,
        "status": record.status,
        "method": record.method,
        "backbone": record.backbone,
        "image_size": record.config.image_size,
        "head": record.config.head,
        "seed": record.config.seed,
        "val_accuracy": s.val_accuracy,
        "ci": [s.val_ci_low, s.val_ci_high],
        "n": s.val_n,
        "best_val_accuracy": s.best_val_accuracy,
        "best_epoch": s.best_epoch,
        "restored_by": s.restored_by,
        "top_run_val_accuracy": s.top_run_val_accuracy,
        "epochs": s.epochs_run,
        "seconds_per_epoch": statistics.median(seconds[1:] or seconds) if seconds else None,
        "epoch_seconds_total": sum(seconds),
        "extract_seconds": s.extract_seconds,
        "feature_cache_hit": s.feature_cache_hit,
        "trainable_params": s.trainable_params,
        "total_params": s.total_params,
        "precision": s.precision,
    }


def tta_row(row: Row, done: dict, data: Path) -> dict:
    from tta import score, table

    source = done.get(row.source_key, {})
    if source.get("status") != "finished":
        return {"status": "skipped", "error": f"{row.source_key} did not finish"}
    with Meter() as meter:
        _, modes = table(source["run_id"], score(source["run_id"], data))
    return {"status": "finished", "run_id": source["run_id"], "modes": modes, "load": meter.load}


def cv_row(row: Row, store, folds: int) -> dict:
    from core.crossval import cv_summary
    from core.training import create_cv_runs, train

    config = dataclasses.replace(row.config, name=f"bench {row.key}")
    with Meter() as meter:
        run_ids = create_cv_runs(config, folds, store, status="running")
        for run_id in run_ids:
            print(f"  fold run {run_id} ...", file=sys.stderr, flush=True)
            train(store.get(run_id).config, store, run_id)
    records = [store.get(run_id) for run_id in run_ids]
    summary = cv_summary(records).to_dict()
    for fold in summary["per_fold"]:
        fold["n"] = store.get(fold["run_id"]).summary.val_n
    return {
        "status": "finished" if summary["finished"] == folds else "failed",
        "settings": (
            f"{config.method}, {config.backbone}, {config.image_size} px, {config.head} head, "
            f"{config.epochs} epochs"
        ),
        **summary,
        "wall_seconds": meter.wall,
        "cpu_seconds": meter.cpu,
        "load": meter.load,
    }


def run_rows(args, selected: list[Row], done: dict, save) -> None:
    from core.backbones import weights_status
    from core.store import RunStore

    store = RunStore()
    for row in selected:
        if row.key in done and done[row.key].get("status") == "finished" and not args.redo:
            continue
        backbone = row.config.backbone if row.config and row.config.uses_backbone else None
        if backbone:
            available, where = weights_status(backbone, row.config.image_size)
            if not available or "downloadable" in where:
                done[row.key] = {"status": "skipped", "error": where}
                save()
                continue
        print(f"{row.key} ...", file=sys.stderr, flush=True)
        if row.table == "tta":
            result = tta_row(row, done, args.data_dir)
        elif row.table == "cv":
            result = cv_row(row, store, args.folds)
        else:
            result = train_row(row, store, done)
        done[row.key] = {
            "key": row.key,
            "table": row.table,
            **result,
            "measured": time.strftime("%Y-%m-%d %H:%M"),
        }
        save()


# --- the report --------------------------------------------------------------------------


def t975(df: int) -> float:
    from core.crossval import t_quantile_975

    return t_quantile_975(df)


def seeds_summary(rows: list[dict]) -> dict | None:
    """Mean ± sd (ddof=1), range and Student's t 95% interval of the seeds' final accuracies."""
    values = [r["val_accuracy"] for r in rows]
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = t975(len(values) - 1) * sd / math.sqrt(len(values))
    best = [r["best_val_accuracy"] for r in rows]
    return {
        "seeds": [r["seed"] for r in rows],
        "values": values,
        "mean": mean,
        "sd": sd,
        "min": min(values),
        "max": max(values),
        "ci": [mean - half, mean + half],
        "n": rows[0]["n"],
        "best_mean": statistics.fmean(best),
    }


def _interval(row: dict) -> str:
    lo, hi = row["ci"]
    return f"{lo:.3f}–{hi:.3f}"


def _minutes(row: dict) -> str:
    if row.get("earlier"):
        return "earlier run (see below)"
    if "wall_seconds" not in row:
        return f"{row['epoch_seconds_total'] / 60:.1f} (epochs; reused run)"
    load = "–".join(str(x) for x in row.get("load", []))
    return f"{row['wall_seconds'] / 60:.1f} wall, {row['cpu_seconds'] / 60:.1f} CPU (load {load})"


def _run_line(row: dict, goal: float | None) -> str:
    label = row["method"] + (f" seed {row['seed']}" if row["method"] == "scratch" else "")
    if row["method"] == "bottleneck" and row.get("head") == "gap":
        label += ", GAP head"
    extra = ""
    if row.get("top_run_val_accuracy") is not None:
        below = row["val_accuracy"] < row["top_run_val_accuracy"]
        extra = f"top run {row['top_run_val_accuracy']:.4f}" + (" (ends below it)" if below else "")
        if row.get("restored_by"):
            extra += f"; best epoch {row['best_epoch']} by {row['restored_by']}"
    return (
        f"| {label} | {row['backbone'] or '-'} | {row['image_size']} | {row['val_accuracy']:.4f} | "
        f"{_interval(row)} | {row['n']} | {row['best_val_accuracy']:.4f} | {row['epochs']} | "
        f"{row['seconds_per_epoch']:.1f} | {_minutes(row)} | {BLOG[row['method']]} | "
        f"{'' if goal is None else f'>= {goal}'} | {extra} |"
    )


def markdown(report: dict) -> str:
    rows = report["rows_by_key"]
    finished = {k: r for k, r in rows.items() if r.get("status") == "finished"}
    head = (
        "| method | backbone | px | val accuracy (final) | 95% CI | n | best epoch acc | epochs "
        "| s/epoch | minutes | blog | goal | notes |\n" + "|---" * 13 + "|"
    )
    lines = [
        "# The blog's table, reproduced, and the lab's defaults",
        "",
        f"Data: `{report['settings']['data']}` (2000 training, 800 validation photos unless "
        "a row says otherwise). Every accuracy is the final model's on the validation split, "
        "with its 95% Wilson interval and n; commands and machines at the end.",
        "",
        "## The blog's settings (150 px, batch 16)",
        "",
        head,
    ]
    blog = [r for k, r in finished.items() if r["table"] == "blog"]
    for r in blog:
        goal = (
            GOALS["blog"].get(r["method"])
            if r["method"] == "scratch" or r["backbone"] == BACKBONE
            else None
        )
        lines.append(_run_line(r, goal))
    seeds = seeds_summary([r for r in blog if r["method"] == "scratch"])
    if seeds:
        lines += [
            "",
            f"Small CNN from scratch over {len(seeds['seeds'])} seeds "
            f"({', '.join(map(str, seeds['seeds']))}), "
            f"final epoch: **{seeds['mean']:.3f} ± {seeds['sd']:.3f}** (mean ± sd), range "
            f"{seeds['min']:.3f}–{seeds['max']:.3f}, 95% t-interval of the mean "
            f"{seeds['ci'][0]:.3f}–{seeds['ci'][1]:.3f} (n = {seeds['n']} images each); "
            f"best epoch {seeds['best_mean']:.3f} on average. The blog: 0.79–0.81.",
        ]
    lines += ["", "## The lab's defaults (native size for the pretrained methods)", "", head]
    for r in (r for r in finished.values() if r["table"] == "lab"):
        lines.append(
            _run_line(
                r, GOALS["lab"].get(r["method"]) if r["backbone"] in (None, BACKBONE) else None
            )
        )
    tta = [(k, r) for k, r in finished.items() if r["table"] == "tta"]
    if tta:
        lines += [
            "",
            "## Test-time augmentation (validation, the lab rows' runs)",
            "",
            "| run | TTA | accuracy | 95% CI | n | seconds | McNemar against none |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, r in tta:
            for m in r["modes"]:
                test = (
                    "—"
                    if m["tta"] == "none"
                    else (f"{m['only_tta']} fixed, {m['only_none']} broken, p = {m['p_value']:.3f}")
                )
                lines.append(
                    f"| {key} (run {r['run_id']}) | {m['tta']} | {m['accuracy']:.4f} | "
                    f"{m['ci_low']:.3f}–{m['ci_high']:.3f} | {m['n']} | {m['seconds']} | {test} |"
                )
    for key, r in ((k, r) for k, r in finished.items() if r["table"] == "cv"):
        folds = r["per_fold"]
        n = sum(f["n"] for f in folds)
        correct = sum(round(f["val_accuracy"] * f["n"]) for f in folds)
        from core.metrics import wilson_interval

        lo, hi = wilson_interval(correct, n)
        lines += [
            "",
            f"## {r['n_folds']}-fold cross-validation: {key}",
            "",
            f"Each fold: {r.get('settings', 'the row’s settings')}.",
            "",
            "| fold | run | val accuracy | n |",
            "|---|---|---|---|",
            *[
                f"| {f['fold'] + 1} | {f['run_id']} | {f['val_accuracy']:.4f} | {f['n']} |"
                for f in folds
            ],
            "",
            f"Mean ± sd over folds **{r['mean']:.4f} ± {r['sd']:.4f}**, 95% t-interval of the mean "
            f"{r['ci_low']:.3f}–{r['ci_high']:.3f}; pooled over the folds {correct}/{n} = "
            f"{correct / n:.4f} (Wilson {lo:.3f}–{hi:.3f}). {_minutes(r)} minutes.",
        ]
    earlier = [f"- {k}: {r['earlier']}." for k, r in finished.items() if r.get("earlier")]
    if earlier:
        lines += ["", "Rows from an earlier run of this bench:", "", *earlier]
    others = [
        f"- {k}: {r['status']}: {r.get('error', '')}"
        for k, r in rows.items()
        if r.get("status") != "finished"
    ]
    if others:
        lines += ["", "Not measured:", "", *others]
    lines += ["", "## How these were measured", ""]
    lines += [f"- `{c}`" for c in report["commands"]]
    m = report["machine"]
    lines += [
        "",
        f"Machine: {m['platform']}, {m['cpus']} CPUs, Keras {m['keras']} ({m['backend']}). "
        '"minutes" is wall time, and the process\'s CPU time, with the 1-minute load average '
        "at the row's start and end: a load above 2 means other work shared the 2 cores.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "datasets/cats_vs_dogs"))
    parser.add_argument("--rows", default="*", help="fnmatch patterns of row keys, comma-separated")
    parser.add_argument("--seeds", default="1337,1338,1339", help="the small CNN's seeds")
    parser.add_argument("--backbones", default="vgg16,mobilenet_v2_1.0")
    parser.add_argument("--epochs", type=int, help="all methods (default: each method's)")
    parser.add_argument("--finetune-epochs", type=int, default=10, help="fine-tuning (CPU budget)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, help="images per class and split (short run)")
    parser.add_argument("--home", default=str(Path(tempfile.gettempdir()) / "ldl_blog_table"))
    parser.add_argument("--redo", action="store_true", help="train selected rows again")
    parser.add_argument("--fresh", action="store_true", help="forget the stored rows")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--list", action="store_true", help="print the row keys and exit")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.backbones = [b for b in args.backbones.split(",") if b]
    if "KERAS_HOME" not in os.environ and (SHARED / "keras_home/models").is_dir():
        os.environ["KERAS_HOME"] = str(SHARED / "keras_home")
    os.environ["LDL_HOME"] = args.home
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "blog_table.json"
    previous = {} if args.fresh or not json_path.exists() else json.loads(json_path.read_text())
    done = previous.get("rows_by_key", {})
    commands = previous.get("commands", [])
    commands.append("python bench/blog_table.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as scratch:
        args.data_dir = resolve_data(args.data, args.limit, Path(scratch))
        rows = plan(args)
        patterns = args.rows.split(",")
        # In the patterns' order: a long table can put its most wanted rows first.
        selected = []
        for pattern in patterns:
            selected += [r for r in rows if fnmatch.fnmatch(r.key, pattern) and r not in selected]
        if args.list:
            print("\n".join(r.key for r in selected))
            return 0
        report = {"settings": {"data": args.data, "limit": args.limit}, "machine": machine()}

        def save():
            report.update(rows_by_key=done, commands=commands, rows=home_rows(done))
            json_path.write_text(json.dumps(report, indent=2))
            (out / "blog_table.md").write_text(markdown(report))

        run_rows(args, selected, done, save)
        save()
    print((out / "blog_table.md").read_text())
    return 0


def home_rows(done: dict) -> list[dict]:
    """The rows the Home page's "blog vs lab" table reads (`core.lab_results`): the
    blog's settings, one per method; the small CNN as the mean over its seeds."""
    finished = [r for r in done.values() if r.get("status") == "finished" and r["table"] == "blog"]
    rows = []
    scratch = [r for r in finished if r["method"] == "scratch"]
    seeds = seeds_summary(scratch)
    if seeds:
        rows.append(
            dict(scratch[0], val_accuracy=seeds["mean"], ci=seeds["ci"], seeds=seeds["seeds"])
        )
    elif scratch:
        rows.append(scratch[0])
    for method in ("bottleneck", "finetune"):
        rows += [r for r in finished if r["method"] == method and r["backbone"] == BACKBONE][:1]
    for r in rows:
        r.setdefault("total_seconds", r.get("wall_seconds") or r["epoch_seconds_total"])
    return rows


if __name__ == "__main__":
    sys.exit(main())
