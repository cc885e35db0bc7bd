"""Issue 13: the precision policy per run and training on several devices."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from core import devices, models
from core.errors import LabError
from core.store import RunStore
from core.train_config import TrainConfig
from core.training import start_run
from tests.core.image_factory import make_image_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Generated pictures (two tinted classes), 16 train / 8 validation per class."""
    root = tmp_path_factory.mktemp("tiny")
    layout = {"train": {"red": 16, "blue": 16}, "validation": {"red": 8, "blue": 8}}
    return str(make_image_folder(root / "ds", layout, size=(32, 32)))


def _flags(monkeypatch, *flags):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert devices.cpu_flags(str(info)) >= {"avx2", "amx_bf16"}
    assert devices.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_auto_precision_follows_the_machine_and_method(monkeypatch):
    _flags(monkeypatch, "avx2", "fma")
    assert devices.resolve_precision("auto", "scratch", gpus=0) == "float32"
    _flags(monkeypatch, "avx2", "avx512_bf16", "amx_bf16")
    assert devices.resolve_precision("auto", "scratch", gpus=0) == "mixed_bfloat16"
    assert devices.resolve_precision("auto", "improved", gpus=1) == "mixed_float16"
    # The bottleneck top model gains nothing from mixed precision.
    assert devices.resolve_precision("auto", "bottleneck", gpus=1) == "float32"
    assert devices.resolve_precision("mixed_bfloat16", "bottleneck", gpus=0) == "mixed_bfloat16"


def test_float16_is_refused_without_a_gpu():
    with pytest.raises(LabError, match="mixed_float16 needs a GPU"):
        devices.resolve_precision("mixed_float16", "scratch", gpus=0)
    assert devices.resolve_precision("mixed_float16", "scratch", gpus=2) == "mixed_float16"


def test_unknown_precision_and_devices_are_refused():
    with pytest.raises(LabError, match="precision must be one of"):
        TrainConfig.defaults("scratch", precision="half").validate()
    with pytest.raises(LabError, match="devices must be at least 1"):
        TrainConfig.defaults("scratch", devices=0).validate()


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_models_keep_their_output_in_float32(policy):
    with devices.precision_policy(policy):
        model = models.make_improved_cnn(32, 3)
        top = models.make_top_model((2, 2, 8), 2)
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_layer("block1_conv").compute_dtype == policy.split("_")[1]
    assert model.output.dtype == "float32" and top.output.dtype == "float32"


def test_the_policy_is_restored_after_an_error():
    with pytest.raises(RuntimeError), devices.precision_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_each_precision_trains_one_epoch(tiny_data, precision):
    config = TrainConfig.defaults(
        "scratch", data=tiny_data, image_size=32, epochs=1, precision=precision
    )
    store = RunStore()
    record = store.get(start_run(config, store))
    assert record.status == "finished"
    assert record.summary.precision == precision
    assert (record.summary.devices, record.summary.global_batch_size) == (1, 16)
    assert keras.config.dtype_policy().name == "float32"  # nothing leaks into the next run
    model = models.load_model(store.run_folder(record.id).model)
    assert model.get_layer("conv1").compute_dtype == precision.removeprefix("mixed_")
    probs = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert probs.dtype == np.float32 and np.all((probs >= 0) & (probs <= 1))


def test_float16_run_fails_with_the_reason_on_a_cpu(tiny_data, monkeypatch):
    monkeypatch.setattr(devices, "gpu_count", lambda: 0)
    config = TrainConfig.defaults(
        "scratch", data=tiny_data, image_size=32, epochs=1, precision="mixed_float16"
    )
    store = RunStore()
    with pytest.raises(LabError, match="needs a GPU"):
        start_run(config, store)
    (record,) = store.list_runs()
    assert record.status == "failed" and "mixed_float16" in record.error
    assert keras.config.dtype_policy().name == "float32"


def test_more_devices_than_the_machine_has_are_refused(tiny_data):
    config = TrainConfig.defaults("scratch", data=tiny_data, image_size=32, epochs=1, devices=64)
    with pytest.raises(LabError, match="64 devices"):
        start_run(config, RunStore())


# A fresh process: the CPU must be split into two logical devices before TF starts.
TWO_DEVICES = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from core.store import RunStore
from core.train_config import TrainConfig
from core.training import start_run
store, out = RunStore(), {}
for n in (1, 2):
    config = TrainConfig.defaults("scratch", data="demo", image_size=48, epochs=6,
                                  batch_size=16, seed=7, devices=n)
    s = store.get(start_run(config, store)).summary
    out[n] = [s.val_accuracy, s.devices, s.global_batch_size, s.val_n]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_two_devices_match_one_on_the_demo_set(demo_folder, tmp_path):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    shutil.copytree(demo_folder, home / "datasets" / "demo")
    env = {**os.environ, "LDL_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = json.loads(done.stdout.strip().splitlines()[-1]).values()
    print(f"one device: {one}, two devices: {two}")  # [val acc, devices, batch, n] (-s)
    assert one[1:3] == [1, 16] and two[1:3] == [2, 32]
    # Within noise: 1.96 binomial standard errors of the difference at these accuracies.
    n = one[3]
    noise = 1.96 * np.sqrt(sum(a * (1 - a) for a in (one[0], two[0])) / n)
    assert abs(one[0] - two[0]) <= max(noise, 2 / n), (one, two)
    assert two[0] > 0.6, two  # the two-device run learned something


@pytest.mark.parametrize(
    "precision,timed", [("mixed_bfloat16", "mixed_bfloat16"), ("mixed_float16", "float32")]
)
def test_estimates_time_the_runs_precision(monkeypatch, precision, timed):
    from core import fitting

    seen = []
    monkeypatch.setattr(devices, "gpu_count", lambda: 0)
    monkeypatch.setattr(
        fitting, "_timed_fit", lambda *args: seen.append(keras.config.dtype_policy().name)
    )
    fitting.time_epochs(TrainConfig.defaults("scratch", precision=precision), 2)
    assert seen == [timed] and keras.config.dtype_policy().name == "float32"


@pytest.mark.slow  # two MobileNetV2 runs: ~70 s on the shared 2 cores
def test_bottleneck_features_stay_float32_under_a_mixed_top(tiny_data):
    """The feature cache serves every precision: a mixed run reuses float32 features."""
    store = RunStore()
    first = TrainConfig.defaults(
        "bottleneck", data=tiny_data, image_size=32, epochs=1, backbone="mobilenet_v2_0.35",
        pretrained=False, precision="mixed_bfloat16",
    )  # fmt: skip
    mixed = store.get(start_run(first, store))
    again = store.get(start_run(dataclasses.replace(first, precision="float32"), store))
    assert (mixed.summary.precision, again.summary.precision) == ("mixed_bfloat16", "float32")
    assert not mixed.summary.feature_cache_hit and again.summary.feature_cache_hit
    model = models.load_model(store.run_folder(mixed.id).model)
    assert model.get_layer("top").get_layer("dense").compute_dtype == "bfloat16"
    base = model.get_layer("backbone")
    assert {layer.compute_dtype for layer in base.layers} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"
