"""Splits above the memory budget: decoded into the disk cache, same results as in memory."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from core import disk_cache, pipeline
from core.datasets import load_dataset
from core.errors import DatasetError
from core.paths import PROJECT_ROOT
from tests.core.image_factory import make_image_folder, write_bad_file

LAYOUT = {"train": {"cats": 5, "dogs": 4}, "validation": {"cats": 2, "dogs": 2}}


@pytest.fixture
def dataset(tmp_path):
    pipeline.clear_cache()
    root = make_image_folder(tmp_path / "pets", LAYOUT, size=(40, 30))
    write_bad_file(root / "train" / "dogs" / "dogs_aa_empty.jpg", "zero_byte")
    return load_dataset(root)


def _in_memory(dataset, split, size, monkeypatch, mode="stretch"):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "1000")
    pipeline.clear_cache()
    decoded = pipeline.load_split(dataset, split, size, mode)
    pipeline.clear_cache()
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    return decoded


def _key(dataset, split, size, mode="stretch"):
    return (dataset.fingerprint(), split, size, mode)


def test_budget_setting_and_default(monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "2.5")
    assert disk_cache.memory_budget_bytes() == int(2.5 * 2**20)
    monkeypatch.delenv("LDL_MEMORY_BUDGET_MB")
    available = disk_cache.available_memory_bytes()
    assert available > 0
    assert disk_cache.memory_budget_bytes() == int(disk_cache.MEMORY_FRACTION * available)
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "lots")
    with pytest.raises(DatasetError, match="LDL_MEMORY_BUDGET_MB"):
        disk_cache.memory_budget_bytes()


@pytest.mark.parametrize("mode", ["stretch", "pad"])
def test_disk_path_gives_the_memory_paths_arrays(dataset, monkeypatch, mode):
    memory = _in_memory(dataset, "train", 24, monkeypatch, mode)
    disk = pipeline.load_split(dataset, "train", 24, mode)
    assert disk.on_disk and not memory.on_disk
    np.testing.assert_array_equal(np.asarray(disk.images), memory.images)
    assert disk.labels.tolist() == memory.labels.tolist()
    assert disk.paths == memory.paths and disk.class_names == memory.class_names
    assert disk.skipped == memory.skipped and len(disk.skipped) == 1
    assert not disk.images.flags.writeable


def test_small_split_stays_in_memory_under_a_larger_budget(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "1")  # 9 images at 16 px: 7 KB
    assert not pipeline.load_split(dataset, "train", 16).on_disk
    assert not list(disk_cache.cache_dir().glob("*.npy"))


def test_disk_entry_is_reused_and_keyed(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    first = pipeline.load_split(dataset, "train", 24)
    pipeline.clear_cache()  # as a new process would: only the files remain
    calls = []
    monkeypatch.setattr(pipeline, "decode_samples", lambda *a, **k: calls.append(a))
    again = pipeline.load_split(dataset, "train", 24)
    assert calls == [] and again.on_disk
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))
    assert again.skipped == first.skipped
    names = {disk_cache.entry_name(_key(dataset, "train", 24, m)) for m in ("stretch", "crop")}
    names.add(disk_cache.entry_name(_key(dataset, "validation", 24)))
    assert len(names) == 3  # split and resize mode are part of the key


def test_tf_dataset_from_disk_serves_the_same_batches(dataset, monkeypatch):
    memory = _in_memory(dataset, "train", 16, monkeypatch)
    disk = pipeline.load_split(dataset, "train", 16)
    assert disk.on_disk

    def served(decoded):
        ds = pipeline.make_tf_dataset(decoded, 4, shuffle=True, seed=5, repeat=True)
        batches = iter(ds)
        return [next(batches) for _ in range(6)]  # two epochs and a half

    for (xm, ym), (xd, yd) in zip(served(memory), served(disk), strict=True):
        assert xd.dtype == xm.dtype and xd.shape == xm.shape
        np.testing.assert_array_equal(xd.numpy(), xm.numpy())
        np.testing.assert_array_equal(yd.numpy(), ym.numpy())


def test_killed_decode_leaves_nothing_that_is_reused(dataset, monkeypatch, app_home):
    # A child process decodes into the disk cache and is killed before renaming its
    # files into place (its progress callback, called after the last image, exits hard).
    script = textwrap.dedent(
        f"""
        import os
        from core import pipeline
        from core.datasets import load_dataset
        ds = load_dataset({str(dataset.root)!r})
        pipeline.load_split(ds, "train", 24, progress=lambda d, t: d == t and os._exit(9))
        """
    )
    env = {**os.environ, "LDL_HOME": str(app_home), "LDL_MEMORY_BUDGET_MB": "0"}
    child = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env)
    assert child.returncode == 9
    leftovers = list(disk_cache.cache_dir().glob("*.tmp.npy"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the half-done file
    calls = []
    real_decode = pipeline.decode_samples

    def counting_decode(*args, **kwargs):
        calls.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(pipeline, "decode_samples", counting_decode)
    memory = _in_memory(dataset, "train", 24, monkeypatch)
    calls.clear()
    disk = pipeline.load_split(dataset, "train", 24)
    assert calls == [1]  # decoded again, not read from the dead writer's file
    np.testing.assert_array_equal(np.asarray(disk.images), memory.images)
    assert not leftovers[0].exists()  # pruned: its writer died


def test_images_without_their_metadata_are_not_reused(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    first = pipeline.load_split(dataset, "train", 24)
    key = _key(dataset, "train", 24)
    meta = disk_cache.cache_dir() / f"{disk_cache.entry_name(key)}.json"
    meta.unlink()  # as if killed between the two renames
    assert disk_cache.load(key) is None
    pipeline.clear_cache()
    again = pipeline.load_split(dataset, "train", 24)
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(first.images))
    stored = json.loads(meta.read_text())
    stored["shape"][0] += 1  # metadata of another decode: refused
    meta.write_text(json.dumps(stored))
    assert disk_cache.load(key) is None


def test_failed_decode_removes_its_temporary_file(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    for sample in dataset.splits["validation"]:
        write_bad_file(sample.path, "corrupt")
    with pytest.raises(DatasetError, match="None of the 4 images"):
        pipeline.load_split(load_dataset(dataset.root), "validation", 16)
    assert not [p for p in disk_cache.cache_dir().iterdir() if p.suffix != ".lock"]


def test_prune_keeps_the_cache_within_its_disk_budget(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    sizes = (16, 20, 24)
    for size in sizes:
        pipeline.load_split(dataset, "train", size)
    names = [disk_cache.entry_name(_key(dataset, "train", s)) for s in sizes]
    folder = disk_cache.cache_dir()
    for age, name in enumerate(names):  # 16 px used longest ago, 24 px most recently
        os.utime(folder / f"{name}.json", (1000 + age, 1000 + age))
    entry_bytes = [(folder / f"{name}.npy").stat().st_size for name in names]
    monkeypatch.setenv("LDL_DISK_CACHE_MB", str(sum(entry_bytes[1:]) / 2**20))
    removed = disk_cache.prune()
    assert {p.name for p in removed} >= {f"{names[0]}.npy", f"{names[0]}.json"}
    assert disk_cache.load(_key(dataset, "train", 16)) is None
    assert disk_cache.load(_key(dataset, "train", 24)) is not None


def test_not_enough_disk_space_is_a_clear_error(dataset, monkeypatch):
    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", "0")
    usage = disk_cache.shutil.disk_usage(disk_cache.cache_dir())
    monkeypatch.setattr(disk_cache.shutil, "disk_usage", lambda _p: usage._replace(free=2**20))
    with pytest.raises(DatasetError, match="Not enough disk space"):
        pipeline.load_split(dataset, "train", 24)


def _train_first_epoch(root, monkeypatch, budget_mb):
    from core.store import RunStore
    from core.train_config import TrainConfig
    from core.training import start_run

    monkeypatch.setenv("LDL_MEMORY_BUDGET_MB", budget_mb)
    pipeline.clear_cache()
    store = RunStore()
    config = TrainConfig.defaults("scratch", data=str(root), image_size=32, epochs=1, seed=3)
    run_id = start_run(config, store)
    record = store.get(run_id)
    assert record.status == "finished" and record.error is None
    return store.epochs(run_id)[0], record.summary


@pytest.fixture
def train_root(tmp_path):
    layout = {"train": {"cats": 12, "dogs": 12}, "validation": {"cats": 4, "dogs": 4}}
    return make_image_folder(tmp_path / "train_pets", layout, size=(40, 30))


def test_a_run_trains_through_the_disk_cache(train_root, monkeypatch):
    epoch, summary = _train_first_epoch(train_root, monkeypatch, "0")
    assert summary.train_n == 24 and summary.val_n == 8
    assert all(epoch[k] is not None for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    assert len(list(disk_cache.cache_dir().glob("*.json"))) == 2  # train and validation


@pytest.mark.slow
def test_a_run_through_the_disk_cache_matches_one_in_memory(train_root, monkeypatch):
    on_disk, _ = _train_first_epoch(train_root, monkeypatch, "0")
    in_memory, _ = _train_first_epoch(train_root, monkeypatch, "1000")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert on_disk[key] == pytest.approx(in_memory[key], abs=1e-5), key
