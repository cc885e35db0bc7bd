"""`python -m core train --method {scratch,bottleneck,finetune} --data PATH ...`

Trains in the foreground: one line per epoch on stderr, then the run id and its
validation accuracy (or, with `--json`, one JSON object on stdout).
"""

from __future__ import annotations

import argparse
import json
import sys

from core.i18n import N_, _
from core.train_config import HEADS, METHODS, OPTIMIZERS, PRECISIONS, SCHEDULES

# Kept in English in the run store and --json (machines read them), translated on stderr.
INTERRUPTED = N_("Interrupted by the user (Ctrl-C).")
# Options that map one to one onto TrainConfig fields of the same name.
CONFIG_OPTIONS = (
    "name", "image_size", "resize_mode", "val_fraction", "augment_on", "augment_copies",
    "head", "dropout", "l2", "top_run", "top_epochs", "unfreeze_blocks", "train_batchnorm",
    "epochs", "batch_size", "optimizer", "learning_rate", "momentum", "schedule",
    "label_smoothing", "seed",
    "early_stopping_patience", "checkpoint_best", "deterministic", "precision", "devices",
)  # fmt: skip


def register(subparsers):
    parser = subparsers.add_parser(
        "train",
        help=_(
            "train a model with one of the blog's three methods or the improved CNN (foreground)"
        ),
        description=_(
            "Train with one of the blog's three methods or the improved CNN; unset options "
            "take the defaults for that method (the blog's, for its three)."
        ),
    )
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--data", required=True, help=_("dataset folder, or 'demo'"))
    parser.add_argument("--name", help=_("a name for the run"))
    data = parser.add_argument_group(_("data"))
    data.add_argument(
        "--image-size", type=int, dest="image_size",
        help=_("pixels per side (default: the backbone's native size, 224, for bottleneck and "
        "finetune; 150 for scratch, the blog's; 128 for improved); --image-size 150 is the "
        "blog's setting"),
    )  # fmt: skip
    data.add_argument("--resize-mode", choices=("stretch", "crop", "pad"), dest="resize_mode")
    data.add_argument(
        "--val-fraction", type=float, dest="val_fraction",
        help=_("share held out for validation when the folder has no validation split"),
    )  # fmt: skip
    data.add_argument("--augment", help=_("preset name (e.g. 'blog: training') or JSON object"))
    data.add_argument(
        "--augment-on", choices=("pipeline", "model"), dest="augment_on",
        help=_("augment in the tf.data pipeline (faster) or in the model's first layers"),
    )  # fmt: skip
    data.add_argument(
        "--augment-copies", type=int, dest="augment_copies",
        help=_("bottleneck and finetune: K augmented copies of each training image, run "
               "through the frozen layers once and cached, instead of augmenting every epoch"),
    )  # fmt: skip
    model = parser.add_argument_group(_("model"))
    model.add_argument(
        "--backbone",
        help=_(
            "pretrained base for bottleneck/finetune: a registry name (mobilenet_v2_1.0, "
            "vgg16, ...) or its Keras name (MobileNetV2, VGG16, ...)"
        ),
    )
    model.add_argument(
        "--no-pretrained", action="store_true", dest="no_pretrained",
        help=_("random initial weights instead of ImageNet (recorded in the run)"),
    )  # fmt: skip
    model.add_argument("--head", choices=HEADS, help=_("top model: the blog's or GAP"))
    model.add_argument("--dropout", type=float, help=_("dropout rate before the last layer"))
    model.add_argument("--l2", type=float, help=_("L2 weight decay (scratch)"))
    model.add_argument(
        "--top-run", type=int, dest="top_run",
        help=_("finished bottleneck run whose top model fine-tuning starts from"),
    )  # fmt: skip
    model.add_argument(
        "--top-epochs", type=int, dest="top_epochs",
        help=_("finetune without --top-run: epochs of the top model trained first"),
    )  # fmt: skip
    model.add_argument(
        "--unfreeze-blocks", type=int, dest="unfreeze_blocks",
        help=_("finetune: how many of the backbone's last blocks to train"),
    )  # fmt: skip
    model.add_argument(
        "--train-batchnorm", action="store_true", default=None, dest="train_batchnorm",
        help=_("finetune: train the BatchNorm layers' parameters too"),
    )  # fmt: skip
    fit = parser.add_argument_group(_("training"))
    fit.add_argument("--epochs", type=int)
    fit.add_argument("--batch-size", type=int, dest="batch_size")
    fit.add_argument("--optimizer", choices=OPTIMIZERS)
    fit.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate")
    fit.add_argument("--momentum", type=float, help=_("SGD momentum"))
    fit.add_argument(
        "--schedule", choices=SCHEDULES,
        help=_("learning rate: constant, or cosine (warm-up, then cosine decay to zero)"),
    )  # fmt: skip
    fit.add_argument(
        "--label-smoothing", type=float, dest="label_smoothing",
        help=_("move this much of each target's probability onto the other classes"),
    )  # fmt: skip
    fit.add_argument("--seed", type=int)
    fit.add_argument(
        "--patience", type=int, dest="early_stopping_patience",
        help=_("stop when the validation loss has not improved for this many epochs"),
    )  # fmt: skip
    fit.add_argument(
        "--keep-best", action=argparse.BooleanOptionalAction, default=None,
        dest="checkpoint_best",
        help=_("end with the weights of the best epoch (by validation accuracy); "
        "on by default for finetune"),
    )  # fmt: skip
    fit.add_argument(
        "--non-deterministic", action="store_false", default=None, dest="deterministic",
        help=_("faster (a bottleneck run's top model compiles with XLA), but a seed no longer "
        "reproduces a run exactly"),
    )  # fmt: skip
    fit.add_argument(
        "--folds", type=int,
        help=_("k-fold cross-validation: train K runs, each validating on one of K folds of "
        "train+validation pooled (split by --seed), and report mean ± sd over the folds"),
    )  # fmt: skip
    hardware = parser.add_argument_group(_("devices"))
    hardware.add_argument(
        "--precision", choices=PRECISIONS,
        help=_("dtype policy; auto (default): mixed_float16 on a GPU, mixed_bfloat16 on a CPU "
        "with AMX, else float32 (mixed_float16 needs a GPU)"),
    )  # fmt: skip
    hardware.add_argument(
        "--devices", type=int,
        help=_("train on N devices with MirroredStrategy (default: every GPU when several are "
        "visible); --batch-size is per device, the global batch is N times it, the learning "
        "rate is used as given. With TF_CONFIG set: one worker of MultiWorkerMirroredStrategy"),
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help=_("print one JSON object on stdout"))
    parser.set_defaults(func=train)


def augment_setting(text: str):
    """A preset name or a JSON object, as an `AugmentConfig`.

    Raises:
        LabError: unknown preset or invalid JSON/settings.
    """
    from core.augment_config import PRESETS, AugmentConfig
    from core.errors import LabError

    if text in PRESETS:
        return PRESETS[text]
    if not text.lstrip().startswith("{"):
        names = ", ".join(f"'{name}'" for name in PRESETS)
        raise LabError(
            _("Unknown augmentation preset '{text}'; use one of {names} or JSON.").format(
                text=text, names=names
            )
        )
    try:
        return AugmentConfig.from_json(text)
    except ValueError as exc:
        raise LabError(str(exc)) from None


def build_config(args):
    """The `TrainConfig` for parsed arguments: the method's defaults, then the options."""
    return config_from_args(args).validate()


def config_from_args(args):
    """The options over the method's defaults, not validated.

    Raises:
        LabError: an unknown backbone or augmentation setting.
    """
    from core.backbones import backbone_name
    from core.train_config import TrainConfig

    changes = {key: getattr(args, key) for key in CONFIG_OPTIONS if getattr(args, key) is not None}
    if args.backbone is not None:
        changes["backbone"] = backbone_name(args.backbone)
    if args.augment is not None:
        changes["augment"] = augment_setting(args.augment)
    if args.no_pretrained:
        changes["pretrained"] = False
    return TrainConfig.defaults(args.method, data=args.data, **changes)


# The figures of an epoch's progress line, each with its words (the keys stay English).
EPOCH_FIGURES = {
    "loss": N_("loss {value}"),
    "accuracy": N_("accuracy {value}"),
    "val_loss": N_("val_loss {value}"),
    "val_accuracy": N_("val_accuracy {value}"),
}


def _print_epoch(epoch: int, epochs: int, figures: dict) -> None:
    parts = [_("epoch {epoch}/{epochs}").format(epoch=epoch, epochs=epochs)]
    for key, words in EPOCH_FIGURES.items():
        if figures.get(key) is not None:
            parts.append(_(words).format(value=f"{figures[key]:.4f}"))
    parts.append(_("{seconds} s").format(seconds=f"{figures.get('seconds', 0):.1f}"))
    print("  ".join(parts), file=sys.stderr, flush=True)


def train(args) -> int:
    from core.cli.runs_cmd import status_words

    if args.folds is not None:
        return train_folds(args)
    from core.devices import prepare_multi_worker
    from core.errors import LabError
    from core.store import RunStore
    from core.training import check_top_run, create_run
    from core.training import train as train_run

    prepare_multi_worker()  # with TF_CONFIG: before TensorFlow runs any op
    store = RunStore()
    run_id = None
    try:
        config = build_config(args)
        if config.method == "finetune" and config.top_run is not None:
            check_top_run(config, store)  # refuse a top model that does not fit, up front
        run_id = create_run(config, store, status="running")
        print(
            _("run {run_id}: {method} on {data}").format(
                run_id=run_id, method=config.method, data=config.data
            ),
            file=sys.stderr,
            flush=True,
        )
        record = train_run(config, store, run_id, report=_print_epoch)
    except LabError as exc:
        return _fail(args, store, run_id, str(exc))
    except KeyboardInterrupt:
        return _fail(args, store, run_id, INTERRUPTED, code=130, shown=_(INTERRUPTED))
    summary = record.summary
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": record.id,
                    "status": record.status,
                    "method": record.method,
                    "backbone": record.backbone,
                    "summary": summary.to_dict(),
                }
            )
        )
    else:
        accuracy = summary.val_accuracy
        low, high, n = summary.val_ci_low, summary.val_ci_high, summary.val_n
        if accuracy is None:
            text = _("n/a")
        else:
            text = _("{accuracy} (95% CI {low}-{high}, n={n})").format(
                accuracy=f"{accuracy:.4f}", low=f"{low:.3f}", high=f"{high:.3f}", n=n
            )
        print(
            _("run {run_id} {status}: validation accuracy {text}").format(
                run_id=record.id, status=status_words(record.status), text=text
            )
        )
        from core.runs_view import below_top_run_warning

        if below_top_run_warning(summary):
            print(_("warning: {message}").format(message=below_top_run_warning(summary)))
    return 0


def _fail(args, store, run_id, message: str, code: int = 1, shown: str | None = None) -> int:
    """Prints the reason (no traceback; `shown`, when the terminal gets other words than the
    record); a run that never started is recorded as failed."""
    if run_id is None:
        from core.training import create_run

        try:  # the options themselves were bad: still leave a failed run record
            run_id = create_run(_recordable_config(args), store, status="running")
            store.finish(run_id, "failed", error=message)
        except Exception:
            run_id = None
    if args.json:
        print(json.dumps({"run_id": run_id, "status": "failed", "error": message}))
    print(_("error: {message}").format(message=shown or message), file=sys.stderr)
    return code


def _recordable_config(args):
    """The options as a `TrainConfig` (unvalidated), or the method's defaults where even
    that fails (an unknown backbone or augmentation setting)."""
    from core.errors import LabError
    from core.train_config import TrainConfig

    try:
        return config_from_args(args)
    except (LabError, TypeError, ValueError):
        return TrainConfig.defaults(args.method, data=args.data)


def train_folds(args) -> int:
    """`--folds K`: the K runs of a cross-validation, one after another, then per fold
    and mean ± sd (ddof=1) with a 95% interval over the folds (`core.crossval`)."""
    from core.cli.runs_cmd import status_words
    from core.crossval import cv_summary
    from core.errors import LabError
    from core.store import RunStore
    from core.training import create_cv_runs
    from core.training import train as train_run

    store = RunStore()
    try:
        config = build_config(args)
        run_ids = create_cv_runs(config, args.folds, store, status="running")
    except LabError as exc:
        return _fail(args, store, None, str(exc))
    failed = []
    for run_id in run_ids:
        fold_config = store.get(run_id).config
        print(
            _("run {run_id}: {name} on {data}").format(
                run_id=run_id, name=fold_config.name, data=config.data
            ),
            file=sys.stderr,
            flush=True,
        )
        try:
            train_run(fold_config, store, run_id, report=_print_epoch)
        except LabError as exc:
            failed.append(run_id)
            print(
                _("error: run {run_id}: {message}").format(run_id=run_id, message=exc),
                file=sys.stderr,
                flush=True,
            )
        except KeyboardInterrupt:
            for rest in run_ids[run_ids.index(run_id) + 1 :]:
                store.finish(rest, "interrupted", error=INTERRUPTED)
            print(_("error: {message}").format(message=_(INTERRUPTED)), file=sys.stderr)
            return 130
    summary = cv_summary([store.get(i) for i in run_ids])
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        for fold, run_id in sorted(summary.run_ids.items()):
            accuracy = summary.per_fold.get(fold)
            status = status_words(store.get(run_id).status)
            figure = status if accuracy is None else f"{accuracy:.4f}"
            print(
                _("fold {fold}/{folds}  run {run_id}  validation accuracy {figure}").format(
                    fold=fold + 1, folds=summary.n_folds, run_id=run_id, figure=figure
                )
            )
        print(
            _("{folds}-fold validation accuracy {text}").format(
                folds=summary.n_folds, text=summary.text()
            )
        )
    return 1 if failed else 0
