"""Altair charts shared by the pages (the data frames come from `core.runs_view`)."""

import altair as alt
import pandas as pd

from core.datasets import split_word
from core.i18n import N_, _
from core.runs_view import BLOG_REFERENCE

SPLITS = ["training", "validation"]
# Training orange and dashed, validation blue and solid: told apart by colour and by line.
SPLIT_COLORS = ["#e8730c", "#1f5fa8"]
SPLIT_DASHES = [[6, 3], [1, 0]]
# A legend whose symbols are short lines, so that it shows the dash as well as the colour.
_LINE_LEGEND = alt.Legend(
    title=None, orient="top", symbolType="stroke", symbolStrokeWidth=3, symbolSize=400
)


# Words of the charts' data values and titles, translated where a chart is drawn.
METRIC_WORDS = {"accuracy": N_("accuracy"), "loss": N_("loss")}
CURVE_TITLES = {
    ("training", "accuracy"): N_("training accuracy"),
    ("training", "loss"): N_("training loss"),
    ("validation", "accuracy"): N_("validation accuracy"),
    ("validation", "loss"): N_("validation loss"),
}


def _split_dash(legend: alt.Legend = _LINE_LEGEND) -> alt.StrokeDash:
    return alt.StrokeDash(
        "split:N", scale=alt.Scale(domain=SPLITS, range=SPLIT_DASHES), legend=legend
    )


# The curves' data values (English in `runs_view`'s frames), in words for the charts.
CURVE_WORDS = {
    "training": N_("training"), "validation": N_("validation"),
    "loss": N_("loss"), "accuracy": N_("accuracy"),
}  # fmt: skip


def _in_words(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """`frame` with the values of `columns` in the current language (a copy)."""
    words = {value: _(word) for value, word in CURVE_WORDS.items()}
    return frame.assign(**{c: frame[c].map(lambda v: words.get(v, v)) for c in columns})


def _shown_split_dash() -> alt.StrokeDash:
    """The training/validation dash for a frame whose splits are in words (`_in_words`)."""
    domain = [_(CURVE_WORDS[s]) for s in SPLITS]
    scale = alt.Scale(domain=domain, range=SPLIT_DASHES)
    return alt.StrokeDash("split:N", scale=scale, legend=_LINE_LEGEND)


def epoch_curves(frame: pd.DataFrame, by_run: bool = False) -> alt.FacetChart:
    """Loss and accuracy per epoch, training (orange, dashed) vs validation (blue, solid).

    Args:
        frame: `runs_view.epoch_frame` output (with a "run" column when `by_run`).
        by_run: colour by run (overlay of several runs); the dash still tells the split.
    """
    splits = [_(CURVE_WORDS[s]) for s in SPLITS]
    split, value = alt.Tooltip("split:N", title=_("split")), _value_tooltip()
    if by_run:
        color = alt.Color("run:N", title=None, legend=alt.Legend(orient="top"))
    else:  # same field and title as the dash: Vega-Lite draws one legend showing both
        color = alt.Color("split:N", scale=alt.Scale(domain=splits, range=SPLIT_COLORS))
        color = color.legend(_LINE_LEGEND)
    tooltip = [alt.Tooltip("run:N", title=_("run"))] if by_run else []
    dash = alt.StrokeDash(
        "split:N", scale=alt.Scale(domain=splits, range=SPLIT_DASHES), legend=_LINE_LEGEND
    )
    base = alt.Chart(_in_words(frame, "split", "metric")).mark_line(point=True)
    return (
        base.encode(
            x=alt.X("epoch:Q", title=_("epoch"), axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=color,
            strokeDash=dash,
            tooltip=[*tooltip, split, alt.Tooltip("epoch:Q", title=_("epoch")), value],
        )
        .properties(width=320, height=220)
        .facet(column=alt.Column("metric:N", title=None, sort=_metric_order()))
        .resolve_scale(y="independent")
    )


def _metric_order() -> list[str]:
    return [_(CURVE_WORDS["loss"]), _(CURVE_WORDS["accuracy"])]


def _value_tooltip() -> alt.Tooltip:
    return alt.Tooltip("value:Q", title=_("value"), format=".4f")


def batch_curves(frame: pd.DataFrame) -> alt.FacetChart:
    """Running loss and accuracy per batch within the current epoch, each on its own axis."""
    batch = alt.Tooltip("batch:Q", title=_("batch"))
    return (
        alt.Chart(_in_words(frame, "metric"))
        .mark_line()
        .encode(
            x=alt.X("batch:Q", title=_("batch"), axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("metric:N", legend=None),
            tooltip=[alt.Tooltip("metric:N", title=_("metric")), batch, _value_tooltip()],
        )
        .properties(width=320, height=160)
        .facet(column=alt.Column("metric:N", title=None, sort=_metric_order()))
        .resolve_scale(y="independent")
    )


def overlay_with_reference(
    frame: pd.DataFrame, metric: str, splits: tuple[str, ...] = ("validation",)
) -> alt.Chart:
    """Curves of several runs (training dashed, validation solid), with the blog's accuracies.

    The blog's figures are labelled rules; their labels sit at different x positions,
    since 0.91 and 0.94 are only a few pixels apart.
    """
    data = _in_words(frame[(frame["metric"] == metric) & frame["split"].isin(splits)], "split")
    title = _(METRIC_WORDS[metric]) if len(splits) > 1 else _(CURVE_TITLES[splits[0], metric])
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title=_("epoch"), axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", title=None, legend=alt.Legend(labelLimit=320)),
            tooltip=[
                alt.Tooltip("run:N", title=_("run")),
                alt.Tooltip("split:N", title=_("split")),
                alt.Tooltip("epoch:Q", title=_("epoch")),
                alt.Tooltip("value:Q", title=title, format=".4f"),
            ],
        )
    )
    if len(splits) > 1:  # one line style per split, and a legend saying which is which
        lines = lines.encode(strokeDash=_shown_split_dash())
    if metric != "accuracy":
        return lines.properties(height=300)
    ref = pd.DataFrame(
        [
            {"blog": _("blog: {method} {value}").format(method=m, value=f"{hi:.2f}"), "value": hi}
            for m, (_what, _low, hi) in BLOG_REFERENCE.items()
        ]
    )
    rules = alt.Chart(ref).mark_rule(strokeDash=[2, 2], color="gray").encode(y="value:Q")
    labels = [  # one layer per label, each at its own x (in pixels)
        alt.Chart(ref.iloc[[index]])
        .mark_text(align="left", dy=-6, color="gray")
        .encode(y="value:Q", text="blog:N", x=alt.value(4 + 170 * index))
        for index in range(len(ref))
    ]
    return alt.layer(lines, rules, *labels).properties(height=300)


def confusion_heatmap(frame: pd.DataFrame) -> alt.LayerChart:
    """The confusion matrix (rows true, columns predicted); clicking selects a cell."""
    cell = alt.selection_point(name="cell", fields=["true", "predicted"], on="click")
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", title=_("predicted")),
        y=alt.Y("true:N", title=_("true class")),
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="oranges"), legend=None),
        opacity=alt.condition(cell, alt.value(1.0), alt.value(0.5)),
        tooltip=[
            alt.Tooltip("true:N", title=_("true class")),
            alt.Tooltip("predicted:N", title=_("predicted")),
            alt.Tooltip("count:Q", title=_("images")),
        ],
    )
    labels = base.mark_text(fontSize=14).encode(text="count:Q")
    return (heat.add_params(cell) + labels).properties(width=320, height=320)


def probability_bars(frame: pd.DataFrame) -> alt.Chart:
    """One model's class probabilities for one image (frame: class, probability)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", title=_("probability"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("class:N", title=None),
            color=alt.Color("class:N", legend=None),
            tooltip=[
                alt.Tooltip("class:N", title=_("class")),
                alt.Tooltip("probability:Q", title=_("probability"), format=".3f"),
            ],
        )
        .properties(height=alt.Step(24))
    )


def reliability_diagram(frame: pd.DataFrame) -> alt.LayerChart:
    """Accuracy against confidence per bin, with the diagonal a calibrated model follows.

    Args:
        frame: one row per bin: `confidence`, `accuracy`, `count` (`runs_view.reliability_frame`).
    """
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.5, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="x:Q", y="x:Q")
    )
    points = (
        alt.Chart(frame)
        .mark_circle(color="#1f5fa8")
        .encode(
            x=alt.X(
                "confidence:Q",
                title=_("confidence (mean per bin)"),
                scale=alt.Scale(domain=[0.5, 1.0]),
            ),  # fmt: skip
            y=alt.Y("accuracy:Q", title=_("accuracy"), scale=alt.Scale(domain=[0, 1])),
            size=alt.Size("count:Q", title=_("images"), legend=alt.Legend(orient="right")),
            tooltip=[
                alt.Tooltip("count:Q", title=_("images")),
                alt.Tooltip("confidence:Q", title=_("confidence"), format=".3f"),
                alt.Tooltip("accuracy:Q", title=_("accuracy"), format=".3f"),
            ],  # fmt: skip
        )
    )
    return alt.layer(diagonal, points).properties(height=240, width=360)


def class_counts(frame: pd.DataFrame) -> alt.Chart:
    """Images per class, one bar per split side by side (`runs_view.class_counts_frame`)."""
    shown = frame.assign(split=frame["split"].map(split_word))  # the splits in words
    order = list(dict.fromkeys(shown["split"]))  # train first, in either language
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("images:Q", title=_("images")),
            y=alt.Y("class:N", title=None),
            color=alt.Color("split:N", title=_("split"), sort=order),
            yOffset=alt.YOffset("split:N", sort=order),
            tooltip=[
                alt.Tooltip("class:N", title=_("class")),
                alt.Tooltip("split:N", title=_("split")),
                alt.Tooltip("images:Q", title=_("images")),
            ],
        )
    )


def longer_sides(frame: pd.DataFrame) -> alt.Chart:
    """Images per bucket of the longer side, small to large (`runs_view.longer_side_frame`)."""
    return (
        alt.Chart(frame, title=_("longer side"))
        .mark_bar()
        .encode(
            x=alt.X("images:Q", title=_("images")),
            y=alt.Y("side:N", sort=None, title=None),
            tooltip=[
                alt.Tooltip("side:N", title=_("longer side")),
                alt.Tooltip("images:Q", title=_("images")),
            ],
        )
        .properties(height=alt.Step(22))
    )
