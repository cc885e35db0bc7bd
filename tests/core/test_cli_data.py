"""`python -m core data check|import|download`: output and exit codes."""

import json
import subprocess
import sys

from core.cli import main
from core.paths import PROJECT_ROOT
from tests.core.image_factory import make_image_folder, write_bad_file, zip_folder

LAYOUT = {"train": {"cats": 4, "dogs": 4}, "validation": {"cats": 2, "dogs": 2}}


def test_check_usable_dataset_with_skipped_files(tmp_path, capsys):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    write_bad_file(root / "train" / "cats" / "broken.jpg", "truncated")
    write_bad_file(root / "train" / "cats" / "notes.txt", "not_an_image")
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "broken.jpg" in out and "notes.txt" in out
    assert "Usable for training." in out


def test_check_json(tmp_path, capsys):
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    assert main(["data", "check", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] and data["totals"] == {"train": 8, "validation": 4}


def test_check_flat_folder_with_split_options(tmp_path, capsys):
    root = make_image_folder(tmp_path / "flat", {"a": 10, "b": 10})
    assert main(["data", "check", str(root), "--json", "--val-fraction", "0.3"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == {"train": 14, "validation": 6}


def test_check_unusable_datasets_exit_non_zero_with_one_line(tmp_path, capsys):
    one_class = make_image_folder(tmp_path / "one", {"cats": 3})
    assert main(["data", "check", str(one_class)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "only one class" in err and "Traceback" not in err
    assert main(["data", "check", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    # Lists fine, but no dog decodes: the report is printed, then the verdict.
    root = make_image_folder(tmp_path / "pets", LAYOUT)
    for path in (root / "train" / "dogs").iterdir():
        write_bad_file(path, "zero_byte")
    assert main(["data", "check", str(root)]) == 1
    captured = capsys.readouterr()
    assert "NOT usable" in captured.out and "'dogs' has no training image" in captured.err


def test_check_demo(capsys):
    assert main(["data", "check", "demo"]) == 0
    assert "synthetic" in capsys.readouterr().out


def test_import(app_home, tmp_path, capsys):
    archive = zip_folder(make_image_folder(tmp_path / "pets", LAYOUT), tmp_path / "pets.zip")
    assert main(["data", "import", str(archive), "--name", "mine"]) == 0
    assert (app_home / "datasets" / "mine" / "train" / "cats").is_dir()
    assert main(["data", "import", str(archive), "--name", "mine"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_download_offline_is_one_clear_line(monkeypatch, capsys):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["data", "download"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "import a zip" in err[0] and "Traceback" not in err[0]


def test_real_process_exit_code(tmp_path):
    root = make_image_folder(tmp_path / "one", {"cats": 2})
    result = subprocess.run(
        [sys.executable, "-m", "core", "data", "check", str(root)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "only one class" in result.stderr and "Traceback" not in result.stderr
