"""One way to create a run: the runner, the CLI and fine-tuning's stage 1 all go through
`core.training.create_run`, so the same config records the same dataset fingerprint."""

import pytest

from core import runner, training
from core.cli import main
from core.datasets import load_dataset, resolve_dataset
from core.store import RunStore
from core.train_config import TrainConfig
from tests.core.image_factory import make_image_folder

# Not the defaults (0.2, 1337): a rule that ignored them would record another split.
VAL_FRACTION, SEED = 0.4, 7


@pytest.fixture
def folder(tmp_path):
    """One folder of classes: the validation split is drawn with val_fraction and seed."""
    return make_image_folder(tmp_path / "pets", {"cats": 5, "dogs": 5})


@pytest.fixture
def no_training(monkeypatch):
    """`train` stops the run at once: these tests are about the record, not the model."""

    def stop_at_once(config, store, run_id, should_stop=None, report=None):
        store.finish(run_id, "stopped")
        return store.get(run_id)

    monkeypatch.setattr(training, "train", stop_at_once)


def _expected(folder) -> str:
    fingerprint = load_dataset(folder, val_fraction=VAL_FRACTION, seed=SEED).fingerprint()
    assert fingerprint != resolve_dataset(folder).fingerprint()  # the split matters
    return fingerprint


def test_the_runner_records_the_configs_split(folder, monkeypatch):
    monkeypatch.setattr(runner, "ensure_worker", lambda: 0)
    store = RunStore()
    config = TrainConfig.defaults("scratch", data=str(folder), val_fraction=VAL_FRACTION, seed=SEED)
    record = store.get(runner.enqueue(config, store))
    assert record.status == "queued" and record.dataset_fingerprint == _expected(folder)
    assert record.config == config


@pytest.mark.usefixtures("no_training")
def test_the_cli_records_the_configs_split(folder, capsys):
    options = ["--val-fraction", str(VAL_FRACTION), "--seed", str(SEED), "--epochs", "1"]
    assert main(["train", "--method", "scratch", "--data", str(folder), *options]) == 0
    (record,) = RunStore().list_runs()
    assert record.dataset_fingerprint == _expected(folder)
    assert record.config.val_fraction == VAL_FRACTION


@pytest.mark.usefixtures("no_training")
def test_finetuning_stage1_records_the_configs_split(folder):
    store = RunStore()
    config = TrainConfig.defaults(
        "finetune", data=str(folder), val_fraction=VAL_FRACTION, seed=SEED, pretrained=False
    )
    run_id = training.create_run(config, store, status="running")
    run = training.TrainingRun(config, store, run_id, store.run_folder(run_id), lambda: False, None)
    assert training._train_stage1(run) is None  # stopped at once by the stand-in
    stage1 = store.get(store.get(run_id).summary.stage1_run_id)
    assert stage1.method == "bottleneck"
    assert stage1.dataset_fingerprint == store.get(run_id).dataset_fingerprint == _expected(folder)
