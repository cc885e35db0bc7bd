"""What a training run depends on: `TrainConfig`, stored with every run as JSON.

TensorFlow-free (like `core.augment_config`), so pages, the CLI and the run store can
build, check and show configs without importing Keras.

Example:

    config = TrainConfig.defaults("scratch", data="demo", epochs=2, image_size=64)
    config.validate()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from core.augment_config import PRESETS, AugmentConfig
from core.errors import LabError
from core.i18n import _

METHODS = ("scratch", "bottleneck", "finetune", "improved")
# Methods that train their whole model from scratch (no conv base, no backbone).
FROM_SCRATCH = ("scratch", "improved")
OPTIMIZERS = ("rmsprop", "sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine")
HEADS = ("flatten", "gap")
# Mixed precision policies (`core.devices`; "auto" resolves per machine and method).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The blog's three experiments, in its order (the overview's plan, `runner.queue_blog_experiments`).
BLOG_METHODS = ("scratch", "bottleneck", "finetune")

# The blog's image size (its three experiments, `runner.queue_blog_experiments`).
BLOG_IMAGE_SIZE = 150

# The blog's settings of each method (`TrainConfig.blog`; `TrainConfig.defaults` changes
# only the image size of the pretrained methods, to their backbone's native size).
_BLOG = {
    "scratch": dict(optimizer="rmsprop", learning_rate=1e-3, augment=PRESETS["blog: training"]),
    "bottleneck": dict(optimizer="rmsprop", learning_rate=1e-3, augment=PRESETS["none"]),
    "finetune": dict(
        optimizer="sgd",
        learning_rate=1e-4,
        momentum=0.9,
        augment=PRESETS["blog: training"],
        # Not the blog's (issue 10): end with the best epoch's weights (by validation
        # accuracy), so fine-tuning never ends worse than its best epoch.
        checkpoint_best=True,
    ),
    # Not the blog's: the "improved small CNN" (issue 10), measured in bench/improved_cnn.py.
    "improved": dict(
        optimizer="adamw",
        learning_rate=2e-3,
        schedule="cosine",
        image_size=128,
        batch_size=32,
        epochs=45,  # ~36 s per epoch on 2 quiet cores (bench/improved_cnn.py): <= 30 min
        dropout=0.3,
        label_smoothing=0.1,
        augment=AugmentConfig(
            rotation_degrees=15.0,
            width_shift=0.1,
            height_shift=0.1,
            zoom=0.2,
            horizontal_flip=True,
            fill_mode="reflect",
            contrast=0.2,
        ),
    ),
}


@dataclass
class TrainConfig:
    """Everything a run depends on; stored with the run as JSON.

    Start from `TrainConfig.defaults(method)` (the blog's settings at the backbone's
    native size) or `TrainConfig.blog(method)` (the blog's 150 px) and change fields.
    """

    method: str = "scratch"
    data: str = "demo"
    backbone: str = "vgg16"  # ignored by the FROM_SCRATCH methods
    pretrained: bool = True
    epochs: int = 50
    batch_size: int = 16
    image_size: int = 150
    optimizer: str = "rmsprop"
    learning_rate: float = 1e-3
    momentum: float = 0.9  # SGD only
    # "cosine": a linear warm-up over the first epochs, then cosine decay to zero.
    schedule: str = "constant"
    label_smoothing: float = 0.0
    dropout: float = 0.5
    l2: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 1337
    top_run: int | None = None
    top_epochs: int | None = None  # finetune stage 1 (None: the bottleneck default)
    head: str = "flatten"
    augment_copies: int = 0
    # Where training augments, with the same layer stack either way: "pipeline" (a
    # tf.data map that overlaps the model's compute: measured ~1.5x cheaper per epoch
    # on 2 CPU cores, bench/scratch_epoch.py) or "model" (layers right after the Input,
    # keras-io style). Without TensorFlow (e.g. the JAX backend) the model augments.
    augment_on: str = "pipeline"
    unfreeze_blocks: int = 1
    train_batchnorm: bool = False
    early_stopping_patience: int | None = None
    checkpoint_best: bool = False
    resize_mode: str = "stretch"
    val_fraction: float = 0.2
    deterministic: bool = True
    name: str | None = None
    # k-fold cross-validation (issue 10): this run validates on fold `fold` of `folds`
    # (`datasets.fold_dataset`: train and validation pooled, split by seed); the K runs
    # of one cross-validation share `cv_group` (`training.create_cv_runs`).
    folds: int | None = None
    fold: int | None = None
    cv_group: str | None = None
    # Issue 13. "auto": float32, or mixed where this machine gains from it
    # (`core.devices.resolve_precision`); or a Keras policy name of `PRECISIONS`.
    precision: str = "auto"
    # Devices to train on with tf.distribute (None: every GPU when several are visible).
    # `batch_size` is per device: the global batch is batch_size x devices.
    devices: int | None = None

    def __post_init__(self):
        # Stored JSON (and old runs' configs) hold the augmentation as a dict.
        if isinstance(self.augment, dict):
            try:
                self.augment = AugmentConfig.from_dict(self.augment)
            except ValueError as exc:
                raise LabError(str(exc)) from None

    @classmethod
    def defaults(cls, method: str, **changes) -> TrainConfig:
        """The lab's settings for `method`, with `changes` applied.

        The blog's settings, except that the pretrained methods (bottleneck, finetune)
        see images at their backbone's native size (224 px for VGG16 and the MobileNets,
        the size its ImageNet weights were trained at) unless `changes` set one; the
        from-scratch CNNs keep their own sizes (the blog's 150 for "scratch").
        """
        config = cls.blog(method, **changes)
        if config.uses_backbone and "image_size" not in changes:
            config.image_size = native_size(config.backbone, config.image_size)
        return config

    @classmethod
    def blog(cls, method: str, **changes) -> TrainConfig:
        """The blog's settings for `method` (150 px images), with `changes` applied."""
        if method not in METHODS:
            message = _("Unknown method '{method}'; choose one of {choices}.")
            raise LabError(message.format(method=method, choices=", ".join(METHODS)))
        return cls(method=method, **{**_BLOG[method], **changes})

    def to_dict(self) -> dict:
        """JSON-ready: the augmentation as a dict of its fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Builds a config; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LabError(_("Unknown training setting '{name}'.").format(name=unknown[0]))
        return cls(**data)

    @property
    def uses_backbone(self) -> bool:
        return self.method not in FROM_SCRATCH

    def validate(self) -> TrainConfig:
        """Checks every field; returns self.

        Raises:
            LabError: naming the first bad setting.
        """
        one_of = _("{setting} must be one of {choices}")
        checks = [
            (self.method in METHODS, one_of.format(setting="method", choices=", ".join(METHODS))),
            (
                self.optimizer in OPTIMIZERS,
                one_of.format(setting="optimizer", choices=", ".join(OPTIMIZERS)),
            ),
            (self.head in HEADS, _("head must be 'flatten' or 'gap'")),
            (
                self.schedule in SCHEDULES,
                one_of.format(setting="schedule", choices=", ".join(SCHEDULES)),
            ),
            (0 <= self.label_smoothing < 1, _("label_smoothing must be in [0, 1)")),
            (self.epochs >= 1, _("epochs must be at least 1")),
            (self.batch_size >= 1, _("batch_size must be at least 1")),
            (16 <= self.image_size <= 1024, _("image_size must be between 16 and 1024")),
            (self.learning_rate > 0, _("learning_rate must be positive")),
            (0 <= self.dropout < 1, _("dropout must be in [0, 1)")),
            (self.l2 >= 0, _("l2 must be 0 or positive")),
            (self.augment_copies >= 0, _("augment_copies must be 0 or more")),
            (
                not self.augment_copies or self.uses_backbone,
                _("augment_copies applies to bottleneck and fine-tuning runs only"),
            ),
            (self.unfreeze_blocks >= 1, _("unfreeze_blocks must be at least 1")),
            (0 < self.val_fraction < 1, _("val_fraction must be between 0 and 1")),
            (0 <= self.seed < 2**32, _("seed must be between 0 and {most}").format(most=2**32 - 1)),
            (
                self.augment_on in ("model", "pipeline"),
                _("augment_on must be 'model' or 'pipeline'"),
            ),
            (
                self.precision in PRECISIONS,
                one_of.format(setting="precision", choices=", ".join(PRECISIONS)),
            ),
            (self.devices is None or self.devices >= 1, _("devices must be at least 1")),
            (
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                _("early_stopping_patience must be at least 1"),
            ),
        ]
        checks += _fold_checks(self)
        for ok, message in checks:
            if not ok:
                raise LabError(_("Invalid training setting: {problem}.").format(problem=message))
        if self.uses_backbone:
            from core.backbones import get_backbone

            get_backbone(self.backbone)
        try:
            self.augment.validate()
        except ValueError as exc:
            raise LabError(str(exc)) from None
        if self.augment_copies and self.augment.is_identity():
            raise LabError(
                _(
                    "Invalid training setting: augmented copies (augment_copies={n}) need "
                    "augmentation settings; choose a preset."
                ).format(n=self.augment_copies)
            )
        return self


def _fold_checks(config: TrainConfig) -> list[tuple[bool, str]]:
    if config.folds is None:
        return [(config.fold is None, _("fold needs folds (how many folds)"))]
    fold_ok = config.fold is not None and 0 <= config.fold < config.folds
    return [
        (2 <= config.folds <= 20, _("folds must be between 2 and 20")),
        (fold_ok, _("fold must be in [0, folds)")),
        (
            config.method != "finetune" or config.top_run is None,
            _(
                "a cross-validated fine-tuning run trains its own top model on its fold; "
                "leave top_run empty"
            ),
        ),
    ]


def native_size(backbone: str, fallback: int = BLOG_IMAGE_SIZE) -> int:
    """The input size `backbone`'s ImageNet weights were trained at; `fallback` for an
    unknown name (`validate` then names the problem)."""
    from core.backbones import BACKBONES  # Keras-free: it imports Keras lazily

    known = BACKBONES.get(backbone)
    return known.native_size if known is not None else fallback
