"""The Guide page's path through the blog post: its steps, the runs they queue, their results.

Each step of the post (the data, augmentation, the small CNN, bottleneck features,
fine-tuning, what next) is a `GuideStep`: what it does and why, the blog's setting
beside the lab's, and the kind of action its one button takes. The run steps queue
`TrainConfig.blog(...)` on the active dataset (`run_config`), and their result is the
latest run of those settings on that dataset (`step_result`), found by its config,
not by its name: a run queued from the Train page with the same settings counts too.

Standard library and `core` only (no streamlit, no TensorFlow).

Example:

    step = step_by_key("scratch")
    runner.enqueue(run_config(step, "demo", "mobilenet_v2_1.0"))
    step_result(RunStore(), step, "demo", "mobilenet_v2_1.0")  # StepResult(status="queued", ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.augment_config import PRESETS, AugmentConfig
from core.i18n import N_
from core.runs_view import BLOG_REFERENCE
from core.train_config import BLOG_IMAGE_SIZE, FROM_SCRATCH, TrainConfig

# The names the Cats vs Dogs folder goes by: the download's, and the shared data's.
CATS_VS_DOGS_NAMES = ("cats_and_dogs_filtered", "cats_vs_dogs")
KFOLD_FOLDS = 5  # the "what next" step's cross-validation
# Settings that do not change what a run computes (`top_run`: fine-tuning's top model is
# whichever finished bottleneck run the guide had at the time).
_NOT_SETTINGS = ("name", "top_run")


@dataclass(frozen=True)
class GuideStep:
    """One step of the post. Texts are English msgids (translate them with `_()` when shown);
    `lab` may name the network as `{network}`."""

    key: str
    title: str
    text: str
    blog: str
    lab: str
    action: str  # "dataset", "augment", "run" (queues `method`) or "next"
    button: str | None = None  # the one button's label ("next" has several)
    method: str | None = None  # a run step's method (`TrainConfig.blog(method)`)

    @property
    def blog_figure(self) -> tuple[float, float] | None:
        """The blog's validation accuracy (low, high) of a run step, else None."""
        if self.method not in BLOG_REFERENCE:
            return None
        _what, low, high = BLOG_REFERENCE[self.method]
        return low, high

    @property
    def blog_figure_text(self) -> str | None:
        """ "0.79–0.81", "0.94", or None for a step without a figure."""
        figure = self.blog_figure
        if figure is None:
            return None
        low, high = figure
        return f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}"


STEPS = (
    GuideStep(
        key="data",
        title=N_("2,000 training images in two folders"),
        text=N_(
            "The post starts from very little data on purpose: 1,000 cats and 1,000 dogs to "
            "learn from, and 400 of each kept aside to measure. One sub-folder per class, under "
            "train/ and validation/, is all the labelling there is."
        ),
        blog=N_("2,000 training and 800 validation photos, one folder per class."),
        lab=N_("The same Cats vs Dogs split, or any folder laid out the same way."),
        action="dataset",
        button=N_("Use Cats vs Dogs"),
    ),
    GuideStep(
        key="augment",
        title=N_("Augmentation: new pictures from the same ones"),
        text=N_(
            "With so few pictures a network memorises them instead of learning cats and dogs. "
            "Random shears, zooms and flips show it a slightly different picture every epoch, "
            "which fights over-fitting without collecting any new photos."
        ),
        blog=N_("ImageDataGenerator: shear 0.2, zoom 0.2, horizontal flip."),
        lab=N_("The same transformations as Keras layers, previewed on your own pictures."),
        action="augment",
        button=N_("Open Augment with the blog's settings"),
    ),
    GuideStep(
        key="scratch",
        title=N_("A small CNN trained from scratch"),
        text=N_(
            "Three convolution and max-pooling blocks, one dense layer and dropout learn from "
            "the 2,000 pictures alone. Augmentation and dropout keep it from over-fitting; this "
            "is the baseline the next steps improve on."
        ),
        blog=N_("RMSprop, 50 epochs at 150 px, batch 16: 0.79–0.81."),
        lab=N_("The same network and settings on the active dataset, in the background."),
        action="run",
        button=N_("Train the small CNN with the blog's settings"),
        method="scratch",
    ),
    GuideStep(
        key="bottleneck",
        title=N_("Bottleneck features of a pretrained network"),
        text=N_(
            "A network trained on ImageNet already knows edges, textures and object parts. "
            "Its convolutional base runs once over every picture, and only a small classifier "
            "is trained on the features it gives: fast, and far more accurate."
        ),
        blog=N_("VGG16's features, a small dense top, 50 epochs at 150 px: 0.90–0.91."),
        lab=N_("{network}'s features at the blog's 150 px, under the same small top."),
        action="run",
        button=N_("Train on bottleneck features with the blog's settings"),
        method="bottleneck",
    ),
    GuideStep(
        key="finetune",
        title=N_("Fine-tuning the last convolutional block"),
        text=N_(
            "The classifier of the previous step goes back on top of the pretrained base, the "
            "last block is unfrozen, and the whole stack trains on with a very small learning "
            "rate. Starting from a trained top keeps large updates from wrecking the features."
        ),
        blog=N_("SGD 1e-4 with momentum 0.9, the last block of VGG16 unfrozen: 0.94."),
        lab=N_("The same on {network}, from step 4's top model; the best epoch is kept."),
        action="run",
        button=N_("Fine-tune with the blog's settings"),
        method="finetune",
    ),
    GuideStep(
        key="next",
        title=N_("What to try next"),
        text=N_(
            "The post ends with the table you have now reproduced. The lab goes further: "
            "pretrained networks at the size their weights were trained at, k-fold "
            "cross-validation for an honest spread, and a test of whether one run is really "
            "better than another."
        ),
        blog=N_("Three runs, one validation split, no intervals."),
        lab=N_("Native image size, k-fold cross-validation, a significance test."),
        action="next",
    ),
)


def step_by_key(key: str) -> GuideStep:
    """The step named `key` (KeyError for an unknown one)."""
    return {step.key: step for step in STEPS}[key]


# A run's state while it has no result to show, as one sentence (the Guide page's).
STATE_SENTENCES = {
    "queued": N_("Run #{id} waits in the queue."),
    "running": N_("Run #{id} is training."),
    "finished": N_("Run #{id} finished without a validation accuracy."),
    "stopped": N_("Run #{id} was stopped before it finished."),
    "failed": N_("Run #{id} failed."),
    "interrupted": N_("Run #{id} was interrupted."),
}


@dataclass(frozen=True)
class StepResult:
    """The run that answers a step: its state, and its accuracy once finished."""

    run_id: int
    status: str
    accuracy: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished" and self.accuracy is not None

    @property
    def active(self) -> bool:
        """Queued or running: its result is still to come."""
        return self.status in ("queued", "running")


def run_config(
    step: GuideStep, dataset: str, backbone: str, top_run: int | None = None
) -> TrainConfig:
    """The blog's settings of a run step on `dataset` (fine-tuning from `top_run`)."""
    if step.action != "run":
        raise ValueError(f"The guide's step '{step.key}' queues no run.")
    changes = {"data": str(dataset), "name": f"Guide: {step.title}"}
    if step.method not in FROM_SCRATCH:
        changes["backbone"] = backbone
    if step.method == "finetune":
        changes["top_run"] = top_run
    return TrainConfig.blog(step.method, **changes)


def native_config(dataset: str, backbone: str) -> TrainConfig:
    """Where the lab goes further: bottleneck features at the network's native size."""
    return TrainConfig.defaults(
        "bottleneck", data=str(dataset), backbone=backbone, name="Guide: native size"
    )


def kfold_config(dataset: str, backbone: str) -> TrainConfig:
    """The bottleneck step's settings, to cross-validate over `KFOLD_FOLDS` folds."""
    return run_config(step_by_key("bottleneck"), dataset, backbone)


def blog_augment() -> AugmentConfig:
    """The blog's training augmentation (the augmentation step's preset)."""
    return PRESETS["blog: training"]


def same_settings(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether two configs train the same thing (names and top runs aside; a from-scratch
    network ignores its backbone)."""
    return _settings(a) == _settings(b)


def _settings(config: TrainConfig) -> dict:
    settings = config.to_dict()
    ignored = _NOT_SETTINGS + (("backbone", "pretrained") if config.method in FROM_SCRATCH else ())
    for key in ignored:
        settings.pop(key)
    return settings


def matching_runs(records: list, config: TrainConfig) -> list:
    """The runs of `config`'s settings (`same_settings`), newest first."""
    runs = (r for r in records if same_settings(r.config, config))
    return sorted(runs, key=lambda r: r.id, reverse=True)


def _finished(runs: list) -> list:
    return [r for r in runs if r.status == "finished" and r.summary.val_accuracy is not None]


def latest_result(records: list, config: TrainConfig) -> StepResult | None:
    """The run of `config`'s settings to show: the newest queued or running one, else
    the newest finished one, else the newest that ended otherwise; None if never run."""
    runs = matching_runs(records, config)
    active = [r for r in runs if r.is_active]
    chosen = (active or _finished(runs) or runs or [None])[0]
    if chosen is None:
        return None
    figures = chosen.summary
    return StepResult(
        chosen.id,
        chosen.status,
        figures.val_accuracy,
        figures.val_ci_low,
        figures.val_ci_high,
        figures.val_n,
    )


def step_result(store, step: GuideStep, dataset: str, backbone: str) -> StepResult | None:
    """The result of a run step on `dataset` (None for other steps, or when never run)."""
    if step.action != "run":
        return None
    return latest_result(store.list_runs(), run_config(step, dataset, backbone))


def finetune_top_run(store, dataset: str, backbone: str) -> int | None:
    """The guide's newest finished bottleneck run, fine-tuning's top model (None: none yet)."""
    config = run_config(step_by_key("bottleneck"), dataset, backbone)
    finished = _finished(matching_runs(store.list_runs(), config))
    return finished[0].id if finished else None


def guide_backbone() -> str:
    """The pretrained network of steps 4 and 5: the one of the lab's own measured run of the
    blog's table (the Overview's figures) when its weights are here, else the first whose
    weights are (`backbones.default_backbone`, as the Train page's blog queue)."""
    from core.backbones import BACKBONES, default_backbone, find_weights
    from core.lab_results import measured_table

    for row in measured_table():
        known = row.method == "bottleneck" and row.backbone in BACKBONES
        if known and find_weights(row.backbone, BLOG_IMAGE_SIZE):
            return row.backbone
    return default_backbone(BLOG_IMAGE_SIZE)


def known_cats_vs_dogs() -> Path | None:
    """A Cats vs Dogs folder the lab may open: the Data page's download, else a folder of
    that name among the allowed places (`dataroots`); None when there is none."""
    from core import dataroots, download

    downloaded = download.cached_cats_vs_dogs()
    if downloaded is not None:
        return downloaded
    for folder in dataroots.local_datasets():
        if folder.name in CATS_VS_DOGS_NAMES and (folder / "train").is_dir():
            return folder
    return None
