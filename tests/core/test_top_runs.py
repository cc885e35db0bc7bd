"""One rule for the top model of fine-tuning: the page lists by it, the CLI and trainer refuse."""

import json

import pytest

from core.cli import main
from core.errors import LabError
from core.store import RunStore
from core.top_runs import compatible_top_runs, top_run_problem
from core.train_config import TrainConfig
from core.training import start_run

CLASSES = ["circles", "squares", "triangles"]


def _config(**changes):
    return TrainConfig.defaults(
        "finetune", backbone="mobilenet_v2_1.0", image_size=64, pretrained=False, **changes
    )


def _top(make_run, classes=CLASSES, backbone="mobilenet_v2_1.0", size=64, pretrained=False,
         status="finished"):  # fmt: skip
    """A finished bottleneck run record (no training: only what the rule looks at)."""
    run = make_run(
        "bottleneck", status=status, classes=classes, backbone=backbone, image_size=size,
        pretrained=pretrained, epochs=1,
    )  # fmt: skip
    RunStore().run_folder(run.id).top_weights.write_bytes(b"")
    return run.id


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({}, None),
        ({"backbone": "vgg16"}, "used backbone vgg16"),
        ({"size": 150}, "used 150 px images"),
        ({"pretrained": True}, "used ImageNet weights"),
        ({"classes": ["cats", "dogs"]}, "was trained on the classes cats, dogs"),
        ({"status": "stopped"}, "is stopped, not finished"),
    ],
)
def test_each_part_of_the_rule(changes, problem, make_run):
    store = RunStore()
    classes = changes.pop("classes", CLASSES)
    record = store.get(_top(make_run, classes, **changes))
    assert top_run_problem(record, _config(), CLASSES) == problem


def test_compatible_runs_are_listed_newest_first(make_run):
    store = RunStore()
    older, _, newer = _top(make_run), _top(make_run, size=32), _top(make_run)
    runs = compatible_top_runs(store.list_runs(), _config(), CLASSES)
    assert [r.id for r in runs] == [newer, older]


def test_the_trainer_refuses_other_classes_before_decoding_anything(make_run):
    store = RunStore()
    top = _top(make_run, ["cats", "dogs"])
    with pytest.raises(LabError, match=f"Run {top} cannot provide the top model: it was trained"):
        start_run(_config(data="demo", top_run=top), store)


def test_the_cli_refuses_an_incompatible_top_run_in_one_sentence(capsys, make_run):
    store = RunStore()
    top = _top(make_run, size=150)
    code = main(
        ["train", "--method", "finetune", "--data", "demo", "--backbone", "mobilenet_v2_1.0",
         "--image-size", "64", "--no-pretrained", "--top-run", str(top), "--json"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code != 0
    error = json.loads(out)["error"]
    assert error.startswith(f"Run {top} cannot provide the top model: it used 150 px images")
    assert error.count(". ") == 0 and error.endswith(".")  # one sentence
    assert "Traceback" not in err
    assert [r.status for r in store.list_runs() if r.method == "finetune"] == ["failed"]
