"""`python -m core train`: foreground runs, JSON output, clear failures."""

import json
import os
import subprocess
import sys

import pytest

from core.cli import main
from core.metrics import read_predictions_csv
from core.paths import PROJECT_ROOT
from core.store import RunStore
from core.train_config import TrainConfig


def _train(capsys, *args):
    code = main(["train", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_scratch_on_demo_prints_progress_and_json(capsys):
    code, out, err = _train(
        capsys,
        "--method",
        "scratch",
        "--data",
        "demo",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--augment",
        "none",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "finished" and result["method"] == "scratch"
    assert result["summary"]["val_n"] == 120
    rows = read_predictions_csv(RunStore().run_dir(result["run_id"]) / "predictions.csv")
    right = sum(r["true"] == r["predicted"] for r in rows)
    assert result["summary"]["val_accuracy"] == pytest.approx(right / 120)
    assert "epoch 1/1" in err
    record = RunStore().get(result["run_id"])
    assert record.config.seed == 3 and record.config.augment.zoom == 0


def test_plain_output_ends_with_run_id_and_accuracy(capsys, tmp_path):
    for split, n in (("train", 4), ("validation", 2)):
        for label in ("a", "b"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                from PIL import Image

                Image.new("RGB", (20, 20), (i * 40, 0, 0) if label == "a" else (0, 0, 200)).save(
                    folder / f"{i}.png"
                )
    code, out, _ = _train(
        capsys,
        "--method",
        "scratch",
        "--data",
        str(tmp_path / "data"),
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--batch-size",
        "4",
    )
    assert code == 0
    assert out.startswith("run ") and "finished: validation accuracy" in out and "n=4" in out


def test_bad_dataset_fails_with_one_message_and_a_record(capsys, tmp_path):
    code, out, err = _train(capsys, "--method", "scratch", "--data", str(tmp_path / "nope"))
    assert code != 0 and out == ""
    assert "nope is not a folder" in err and "Traceback" not in err
    assert RunStore().list_runs()[0].status == "failed"


def test_missing_weights_fail_with_a_record(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("LDL_OFFLINE", "1")
    code, out, err = _train(
        capsys,
        "--method",
        "bottleneck",
        "--data",
        "demo",
        "--backbone",
        "vgg16",
        "--image-size",
        "32",
        "--json",
    )
    assert code != 0
    result = json.loads(out)
    assert result["status"] == "failed" and "--no-pretrained" in result["error"]
    record = RunStore().get(result["run_id"])
    assert record.status == "failed" and record.pretrained


def test_bad_options_are_recorded_too(capsys):
    code, _, err = _train(capsys, "--method", "scratch", "--data", "demo", "--augment", "wild")
    assert code != 0 and "Unknown augmentation preset 'wild'" in err
    code, _, err = _train(
        capsys,
        "--method",
        "finetune",
        "--data",
        "demo",
        "--top-run",
        "999",
        "--image-size",
        "32",
        "--backbone",
        "mobilenet_0.25",
        "--no-pretrained",
    )
    assert code != 0 and "Run 999 does not exist" in err
    records = RunStore().list_runs()
    assert [r.status for r in records] == ["failed", "failed"]
    # The record holds the options as a TrainConfig (not the raw command line).
    (finetune,) = [r for r in records if r.method == "finetune"]
    config = finetune.config
    assert (config.top_run, config.image_size, config.backbone) == (999, 32, "mobilenet_0.25")
    assert config.pretrained is False and finetune.pretrained is False


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_an_out_of_range_seed_is_one_sentence_and_recorded(capsys, seed):
    code, _, err = _train(capsys, "--method", "scratch", "--data", "demo", "--seed", seed)
    assert code != 0
    assert err == "error: Invalid training setting: seed must be between 0 and 4294967295.\n"
    (record,) = RunStore().list_runs()
    assert record.status == "failed" and "seed must be between" in record.error


@pytest.mark.slow  # a separate Python process trains
@pytest.mark.parametrize("method", ["scratch"])
def test_subprocess_exits_nonzero_without_traceback(method, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "core", "train", "--method", method, "--data", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_every_training_setting_is_a_flag():
    import dataclasses

    from core.cli import build_parser
    from core.cli.train_cmd import build_config

    argv = [
        "train", "--method", "finetune", "--data", "demo", "--name", "all flags",
        "--image-size", "96", "--resize-mode", "pad", "--val-fraction", "0.3",
        "--augment", '{"horizontal_flip": true}', "--augment-on", "model",
        "--augment-copies", "2",
        "--backbone", "MobileNetV2", "--no-pretrained", "--head", "gap", "--dropout", "0.25",
        "--l2", "0.001", "--top-run", "4", "--top-epochs", "3", "--unfreeze-blocks", "2",
        "--train-batchnorm", "--epochs", "7", "--batch-size", "8", "--optimizer", "adam",
        "--lr", "0.002", "--momentum", "0.5", "--schedule", "cosine", "--label-smoothing", "0.1",
        "--seed", "9", "--patience", "2", "--no-keep-best",
        "--non-deterministic", "--precision", "mixed_bfloat16", "--devices", "2",
    ]  # fmt: skip
    config = build_config(build_parser().parse_args(argv))
    defaults = TrainConfig.defaults("finetune", data="demo")
    unchanged = {
        f.name for f in dataclasses.fields(TrainConfig)
        if getattr(config, f.name) == getattr(defaults, f.name)
    }  # fmt: skip
    per_fold = {"folds", "fold", "cv_group"}  # set on each fold's run by --folds (create_cv_runs)
    assert unchanged - per_fold == {"method", "data"}, "every other setting has a flag"
    assert (config.backbone, config.learning_rate, config.early_stopping_patience) == (
        "mobilenet_v2_1.0",
        0.002,
        2,
    )
    assert not config.checkpoint_best and config.train_batchnorm and not config.deterministic


def test_float16_on_a_cpu_is_one_sentence_and_recorded(capsys, monkeypatch):
    from core import devices

    monkeypatch.setattr(devices, "gpu_count", lambda: 0)
    argv = ["--method", "scratch", "--data", "demo", "--precision", "mixed_float16", "--json"]
    code, out, err = _train(capsys, *argv)
    assert code == 1 and "Traceback" not in err
    assert "mixed_float16 needs a GPU" in json.loads(out)["error"]
    (record,) = RunStore().list_runs()
    assert record.status == "failed" and record.config.precision == "mixed_float16"


@pytest.mark.parametrize(
    "given,name",
    [("MobileNetV2", "mobilenet_v2_1.0"), ("mobilenetv2", "mobilenet_v2_1.0"),
     ("mobilenet-v2-0.35", "mobilenet_v2_0.35"), ("VGG16", "vgg16"), ("vgg16", "vgg16")],
)  # fmt: skip
def test_backbone_accepts_keras_names(given, name):
    from core.backbones import backbone_name

    assert backbone_name(given) == name


def test_unknown_backbone_is_one_sentence(capsys):
    code, out, err = _train(capsys, "--method", "bottleneck", "--data", "demo",
                            "--backbone", "MobileNetV9")  # fmt: skip
    assert code == 1 and "Unknown backbone 'MobileNetV9'" in err and "Traceback" not in err


def test_help_names_the_default_image_sizes_and_keep_best_turns_on_and_off(capsys):
    from core.cli import build_parser
    from core.cli.train_cmd import build_config

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "native size, 224, for bottleneck and finetune" in text and "150" in text
    parse = build_parser().parse_args
    finetune = build_config(parse(["train", "--method", "finetune", "--data", "demo"]))
    assert finetune.checkpoint_best and finetune.image_size == 224
    blog = ["train", "--method", "finetune", "--data", "demo", "--image-size", "150"]
    assert build_config(parse([*blog, "--no-keep-best"])).image_size == 150
    assert not build_config(parse([*blog, "--no-keep-best"])).checkpoint_best
    scratch = ["train", "--method", "scratch", "--data", "demo"]
    assert build_config(parse([*scratch, "--keep-best"])).checkpoint_best
