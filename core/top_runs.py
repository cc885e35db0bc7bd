"""Which finished bottleneck runs can give a fine-tuning run its top model.

One rule, used by the Train page (to list and preselect), the CLI and the trainer
(to refuse): the top model must come from a finished bottleneck run with the same
backbone, image size, pretrained weights and classes as the fine-tuning run,
and the same cross-validation fold (a top trained on another split has seen its
validation images).
Standard library only, so pages import it fast.

Example:

    runs = compatible_top_runs(store.list_runs(), config, dataset.class_names)
    config.top_run = runs[0].id if runs else None   # the newest fitting run
"""

from __future__ import annotations

from core.i18n import _


def top_run_problem(record, config, class_names: list[str]) -> str | None:
    """Why run `record` cannot provide the top model for `config`, or None if it can.

    Args:
        record: a `RunRecord` from the store.
        config: the fine-tuning `TrainConfig`.
        class_names: the classes of the dataset fine-tuning trains on.

    Returns:
        A clause such as "used backbone vgg16" that completes "run 3 …", or None.
    """
    size = record.config.image_size
    recorded_classes = record.summary.class_names
    checks = [
        (
            record.method == "bottleneck",
            _("is a {method} run, not a bottleneck run").format(method=record.method),
        ),
        (record.status == "finished", _("is {status}, not finished").format(status=record.status)),
        (
            record.backbone == config.backbone,
            _("used backbone {backbone}").format(backbone=record.backbone),
        ),
        (size == config.image_size, _("used {size} px images").format(size=size)),
        (
            bool(record.pretrained) == bool(config.pretrained),
            _("used ImageNet weights") if record.pretrained else _("used random weights"),
        ),
        (
            recorded_classes is not None and list(recorded_classes) == list(class_names),
            _("was trained on the classes {classes}").format(
                classes=", ".join(recorded_classes or [_("(unknown)")])
            ),
        ),
        (
            # A top trained on another split has seen this run's validation images.
            (record.config.folds, record.config.fold) == (config.folds, config.fold),
            _("was trained on a different cross-validation split"),
        ),
    ]
    return next((why for ok, why in checks if not ok), None)


def compatible_top_runs(records: list, config, class_names: list[str]) -> list:
    """The runs whose top model fits `config`, newest first (as the store lists them)."""
    fitting = [r for r in records if top_run_problem(r, config, class_names) is None]
    return sorted(fitting, key=lambda r: r.id, reverse=True)


def refusal(run_id: int, problem: str, config) -> str:
    """The one-sentence refusal of an incompatible top run."""
    weights = _("ImageNet weights") if config.pretrained else _("random weights")
    return _(
        "Run {id} cannot provide the top model: it {problem} "
        "(this run: {backbone}, {size} px, {weights})."
    ).format(
        id=run_id, problem=problem, backbone=config.backbone, size=config.image_size,
        weights=weights,
    )  # fmt: skip
