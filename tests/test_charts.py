"""The charts' encodings: what a reader needs to tell the lines apart."""

import pandas as pd

import charts
from core.runs_view import batch_frame, epoch_frame

EPOCHS = [
    {"epoch": e, "loss": 1 / e, "accuracy": 0.5 + e / 10, "val_loss": 1.2 / e, "val_accuracy": 0.5}
    for e in (1, 2, 3)
]


def test_training_and_validation_differ_in_colour_and_dash_in_one_legend():
    spec = charts.epoch_curves(epoch_frame(EPOCHS)).to_dict()["spec"]["encoding"]
    color, dash = spec["color"], spec["strokeDash"]
    assert color["field"] == dash["field"] == "split"
    assert color["scale"]["domain"] == dash["scale"]["domain"] == ["training", "validation"]
    assert len(set(color["scale"]["range"])) == 2  # two colours, not two near-identical blues
    assert dash["scale"]["range"][0] != dash["scale"]["range"][1]
    assert color["legend"] == dash["legend"]  # merged: one legend shows colour and dash
    assert color["legend"]["symbolType"] == "stroke"  # its symbols are lines, dashed or not


def test_overlaid_runs_keep_the_dash_legend():
    frame = pd.concat([epoch_frame(EPOCHS, run="#1"), epoch_frame(EPOCHS, run="#2")])
    spec = charts.epoch_curves(frame, by_run=True).to_dict()["spec"]["encoding"]
    assert (
        spec["color"]["field"] == "run" and spec["strokeDash"]["legend"]["symbolType"] == "stroke"
    )


def test_batch_loss_and_accuracy_have_separate_axes():
    batches = [{"batch": b, "loss": 2.0 / b, "accuracy": b / 10} for b in range(1, 6)]
    spec = charts.batch_curves(batch_frame(batches)).to_dict()
    assert spec["facet"]["column"]["field"] == "metric"
    assert spec["resolve"]["scale"]["y"] == "independent"


def test_data_page_charts_show_counts_per_split_and_sides_in_bucket_order():
    counts = pd.DataFrame(
        [("train", "cats", 6), ("validation", "cats", 3)], columns=["split", "class", "images"]
    )
    spec = charts.class_counts(counts).to_dict()["encoding"]
    assert spec["yOffset"]["field"] == spec["color"]["field"] == "split"  # bars side by side
    sides = pd.DataFrame([("< 64 px", 3), ("64–127 px", 5)], columns=["side", "images"])
    chart = charts.longer_sides(sides).to_dict()
    assert chart["encoding"]["y"]["sort"] is None  # buckets stay small to large
    assert chart["title"] == "longer side"
