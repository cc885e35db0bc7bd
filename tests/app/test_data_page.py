"""The Data page: the demo by default, folders restricted to allowed roots, health report."""

import io
import json
import zipfile

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.demo import demo_dataset
from core.errors import DownloadError
from core.health import health_report
from core.paths import PROJECT_ROOT
from tests.app import korean

PAGE = str(PROJECT_ROOT / "pages/data.py")
TIMEOUT = 120


def _folder(root, classes=("cats", "dogs"), n=4):
    """A tiny folder of class sub-folders, with one corrupt file."""
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            color = (40 + 50 * i, 200 * index, 90)
            Image.new("RGB", (40 + i, 30), color).save(root / name / f"{i}.png")
    (root / classes[0] / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_demo_by_default_with_counts_chart_and_samples():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "synthetic" in at.subheader[0].value
    table = at.dataframe[0].value
    demo = demo_dataset()
    assert list(table.index) == demo.class_names
    assert table.loc[demo.class_names[0], "train"] == demo.counts()["train"][demo.class_names[0]]
    assert len(at.get("image")) == demo.num_classes * 6  # six samples per class
    problems = health_report(demo).problems  # each shown in words, or a clean bill of health
    assert [w.value for w in at.warning] == problems
    assert bool(at.success) == (not problems)  # a clean bill of health only when clean


def test_typed_folder_under_an_allowed_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path / "allowed"))
    folder = _folder(tmp_path / "allowed" / "pets")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("A folder").run()
    assert str(folder) in at.selectbox(key="data_found").options
    at.text_input(key="data_path").set_value(str(folder)).run()
    at.button(key="data_use_folder").click().run()
    assert not at.exception
    assert at.session_state["ldl_active_dataset"] == str(folder)
    assert at.subheader[0].value == "pets"
    assert any("cannot be decoded" in w.value for w in at.warning)  # broken.jpg, in words


def test_a_path_outside_the_allowed_roots_is_refused(tmp_path):
    folder = _folder(tmp_path / "elsewhere")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("A folder").run()
    at.text_input(key="data_path").set_value(str(folder)).run()
    at.button(key="data_use_folder").click().run()
    assert not at.exception
    assert "outside the folders this app may open" in at.error[0].value
    assert at.session_state["ldl_active_dataset"] == "demo"  # unchanged


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buf, "PNG")
    return buf.getvalue()


def test_zip_upload_is_imported_and_becomes_active():
    members = {
        f"pets/{name}/{i}.png": _png((i * 40, 90 * k, 30))
        for k, name in enumerate(("cat", "dog"))
        for i in range(5)
    }
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Upload a zip").run()
    at.file_uploader(key="data_zip").set_value(("pets.zip", _zip(members), "application/zip"))
    at.text_input(key="data_zip_name").set_value("pets")
    at.run()
    at.button(key="data_import").click().run()
    assert not at.exception
    active = at.session_state["ldl_active_dataset"]
    assert "datasets/pets" in active
    assert list(at.dataframe[0].value.index) == ["cat", "dog"]


def test_unsafe_zip_is_refused_in_words():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Upload a zip").run()
    evil = _zip({"../../escape/a/1.png": _png((1, 2, 3)), "x/b/1.png": _png((4, 5, 6))})
    at.file_uploader(key="data_zip").set_value(("evil.zip", evil, "application/zip")).run()
    at.button(key="data_import").click().run()
    assert not at.exception
    assert "evil.zip" in at.error[0].value
    assert at.session_state["ldl_active_dataset"] == "demo"  # unchanged


def test_download_shows_progress_and_offline_failure(monkeypatch, tmp_path):
    import core.download

    calls = []

    def offline(progress=None):
        progress(3 * 2**20, 68 * 2**20)
        calls.append(True)
        raise DownloadError("Cannot reach storage.googleapis.com (offline?); import a zip instead.")

    monkeypatch.setattr(core.download, "download_cats_vs_dogs", offline)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Download Cats vs Dogs").run()
    at.button(key="data_download").click().run()
    assert calls and not at.exception
    assert "import a zip instead" in at.error[0].value
    assert "3 MB of 68 MB" in at.get("progress")[0].proto.text

    folder = _folder(tmp_path / "cats_and_dogs_filtered")
    monkeypatch.setattr(core.download, "download_cats_vs_dogs", lambda progress=None: folder)
    at.button(key="data_download").click().run()
    assert at.session_state["ldl_active_dataset"] == str(folder)


def test_a_nul_byte_in_a_typed_path_is_one_sentence(tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("A folder").run()
    at.text_input(key="data_path").set_value(f"{tmp_path}/pets\x00/train").run()
    at.button(key="data_use_folder").click().run()
    assert not at.exception
    assert "contains a NUL character" in at.error[0].value


def test_a_taken_name_is_refused_and_a_free_one_proposed():
    members = {f"pets/{name}/{i}.png": _png((i * 40, 90 * k, 30)) for k, name in
               enumerate(("cat", "dog")) for i in range(3)}  # fmt: skip
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Upload a zip").run()
    assert at.text_input(key="data_zip_name").value == "my_dataset"
    at.file_uploader(key="data_zip").set_value(("pets.zip", _zip(members), "application/zip"))
    at.run()
    at.button(key="data_import").click().run()
    assert "datasets/my_dataset" in at.session_state["ldl_active_dataset"]
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    again.radio(key="data_source").set_value("Upload a zip").run()
    assert again.text_input(key="data_zip_name").value == "my_dataset-2"  # a free name
    again.file_uploader(key="data_zip").set_value(("pets.zip", _zip(members), "application/zip"))
    again.text_input(key="data_zip_name").set_value("my_dataset")
    again.run()
    again.button(key="data_import").click().run()
    assert not again.exception
    assert "'my_dataset' already exists" in again.error[0].value
    assert "'my_dataset-2'" in again.error[0].value


def test_conflicting_zip_paths_and_unexpected_errors_are_one_line(monkeypatch, caplog):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Upload a zip").run()
    odd = _zip({"train": b"x", "train/cats/0.png": _png((1, 2, 3))})
    at.file_uploader(key="data_zip").set_value(("odd.zip", odd, "application/zip")).run()
    at.button(key="data_import").click().run()
    assert not at.exception
    assert at.error[0].value == (
        "odd.zip: member 'train' is both a file and a folder in the archive; rename one of them."
    )

    import core.zipimport

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line of detail")

    monkeypatch.setattr(core.zipimport, "import_zip", boom)
    at.button(key="data_import").click().run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Importing the zip failed unexpectedly (RuntimeError: disk on")
    assert "\n" not in error.value and "second line" not in error.value
    assert "server's log" in error.value
    logged = [r for r in caplog.records if "Importing the zip failed" in r.getMessage()]
    assert logged and logged[0].exc_info[0] is RuntimeError  # the traceback, for the log


def _jpeg(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 36), color).save(buffer, "JPEG")
    return buffer.getvalue()


def test_build_a_dataset_in_the_browser():
    """Name classes, drop pictures into each, see counts, Create: it becomes the active set."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Build one here").run()
    assert not at.exception
    assert not any(e.type == "camera_input" for e in at.main)  # the webcam is off by default
    at.text_input(key="data_build_class_0").set_value("apples")
    at.text_input(key="data_build_class_1").set_value("pears")
    apples = [(f"a{i}.jpg", _jpeg((200, 30 + 20 * i, 30)), "image/jpeg") for i in range(5)]
    pears = [(f"p{i}.jpg", _jpeg((40, 180, 20 * i)), "image/jpeg") for i in range(4)]
    at.file_uploader(key="data_build_files_0").set_value(
        [*apples, ("oops.jpg", b"not a picture", "image/jpeg")]
    )
    at.file_uploader(key="data_build_files_1").set_value(pears)
    at.text_input(key="data_build_name").set_value("fruit").run()
    assert not at.exception
    assert [c.value for c in at.caption if "picture" in c.value][-2:] == [
        "**6** pictures",
        "**4** pictures",
    ]
    at.button(key="data_build_create").click().run()
    assert not at.exception
    active = at.session_state["ldl_active_dataset"]
    assert active.endswith("datasets/fruit")
    assert at.subheader[0].value == "fruit"  # the usual health report follows
    assert list(at.dataframe[0].value.index) == ["apples", "pears"]
    assert any("oops.jpg" in w.value for w in at.warning)  # the bad file, by name

    # The same name again is refused in one sentence, unless replacing is ticked.
    at.radio(key="data_source").set_value("Build one here").run()
    at.button(key="data_build_create").click().run()
    assert any("'fruit' already exists" in e.value for e in at.error)


def test_the_active_folder_survives_a_new_session_and_the_page_opens_on_it(tmp_path, monkeypatch):
    """A reload (a new session) keeps the dataset; the radio does not fall back to Demo."""
    monkeypatch.setenv("LDL_ALLOWED_DIRS", str(tmp_path / "allowed"))
    folder = _folder(tmp_path / "allowed" / "pets")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("A folder").run()
    at.selectbox(key="data_found").set_value(str(folder)).run()
    at.button(key="data_use_folder").click().run()
    again = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()  # a reload / new tab
    assert not again.exception
    assert again.session_state["ldl_active_dataset"] == str(folder)
    assert again.radio(key="data_source").value == "A folder"
    assert again.selectbox(key="data_found").value == str(folder)
    assert again.subheader[0].value == "pets"


def test_a_remembered_folder_that_is_gone_falls_back_to_the_demo_with_a_note(tmp_path):
    from core.preferences import Preferences, save_preferences

    save_preferences(Preferences(dataset=str(tmp_path / "gone")))
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.session_state["ldl_active_dataset"] == "demo"
    assert any(str(tmp_path / "gone") in w.value for w in at.sidebar.warning)


# What the Data page shows with the demo active: the source choice, the health report,
# the sizes and the samples (the Korean page must show none of them).
DATA_SENTENCES = [
    "Where are your images?",
    "Download Cats vs Dogs",
    "Build one here",
    "Procedurally drawn shapes on noisy backgrounds: small, fast to learn, clearly synthetic.",
    "Use the demo dataset",
    "Demo shapes (synthetic)",
    "classes (binary) · formats:",
    "No problems found: every image decodes, no leakage, balanced classes.",
    "**Image sizes**: width 128–128 px (median 128)",
    "Every image is resized to the training size",
    "**Samples**",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_data_page_in_both_languages(language):
    at = korean.render(PAGE, language, TIMEOUT)
    korean.assert_spoken(at, DATA_SENTENCES, language)
    table = at.dataframe[0].value  # the counts table's splits, in words
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    charts = " ".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    if language == "en":
        assert list(table.columns) == ["train", "validation"]
        assert '"title": "images"' in charts and '"title": "longer side"' in charts
    else:
        assert list(table.columns) == ["학습", "검증"] and table.index.name == "클래스"
        assert "긴 변" in [spec.get("title") for spec in specs]
        assert '"title": "이미지 수"' in charts and '"title": "images"' not in charts


def test_a_dataset_error_and_an_unexpected_one_in_korean(tmp_path, monkeypatch):
    from core import i18n

    folder = _folder(tmp_path / "elsewhere")
    at = korean.render(PAGE, "ko", TIMEOUT)
    i18n.set_language("ko")  # AppTest formats the choices (with `_`) outside the session
    at.radio(key="data_source").set_value("A folder").run()
    at.text_input(key="data_path").set_value(str(folder)).run()
    at.button(key="data_use_folder").click().run()
    assert not at.exception
    assert "이 앱이 열 수 있는 폴더 밖에 있습니다" in at.error[0].value

    import core.download

    def boom(progress=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(core.download, "download_cats_vs_dogs", boom)
    at.radio(key="data_source").set_value("Download Cats vs Dogs").run()
    at.button(key="data_download").click().run()
    assert at.error[0].value.startswith("다운로드 중 예상하지 못한 오류가 발생했습니다")
