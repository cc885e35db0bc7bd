"""The overview page, and the pages that must start without TensorFlow."""

import subprocess
import sys
import textwrap

import pytest
from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from tests.app import korean

TIMEOUT = 60


def test_home_renders_methods_and_blog_numbers():
    at = AppTest.from_file(str(PROJECT_ROOT / "pages/home.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "from scratch" in text.lower() and "bottleneck" in text.lower()
    reference = at.dataframe[0].value
    assert list(reference["method"]) == ["scratch", "bottleneck", "finetune"]
    assert list(reference["the blog"]) == ["0.79–0.81", "0.90–0.91", "0.94"]
    assert "blog.keras.io/building-powerful-image-classification" in at.markdown[0].value


def test_home_shows_the_labs_own_measured_table_and_a_start_link():
    import json

    measured = json.loads((PROJECT_ROOT / "bench/results/blog_table.json").read_text())["rows"]
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    table = at.dataframe[0].value
    for row in measured:  # the figures come from the bench's JSON, not from the page
        lab = table[table["method"] == row["method"]].iloc[0]
        assert lab["this lab"] == f"{row['val_accuracy']:.3f}"
        assert lab["95% interval"] == f"{row['ci'][0]:.3f}–{row['ci'][1]:.3f}"
    start, guide = at.get("page_link")
    assert start.proto.label.startswith("Start here") and start.proto.page.endswith("data")
    assert "Guide" in guide.proto.label and guide.proto.page.endswith("guide")


def test_light_pages_do_not_import_tensorflow():
    """Overview, Data and Compare render without loading TensorFlow (a fast first page)."""
    script = textwrap.dedent(
        """
        import sys
        from streamlit.testing.v1 import AppTest
        for page in ("pages/home.py", "pages/data.py", "pages/compare.py"):
            at = AppTest.from_file(page, default_timeout=120).run()
            assert not at.exception, (page, at.exception)
        print("TF" if "tensorflow" in sys.modules else "NO-TF")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "NO-TF"


def test_shell_sidebar_shows_dataset_augmentation_and_runner():
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["ldl_active_augment"] = (
        '{"rotation_degrees": 40.0, "horizontal_flip": true, "zoom": 0.0}'
    )
    at.run()
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "demo (synthetic)" in sidebar
    assert "rotation degrees 40" in sidebar and "horizontal flip" in sidebar
    assert "idle" in sidebar
    assert at.title[0].value == "Little Data Lab"  # the overview is the default page


def test_sidebar_shows_the_running_run(monkeypatch, make_run):
    from core.store import RunStore

    store = RunStore()
    run_id = make_run(status="running", name="busy", image_size=32, epochs=3).id  # alive
    store.log_batch(run_id, 2, 5, 10, {"loss": 0.5, "accuracy": 0.7})
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "busy" in sidebar and "epoch 2/3" in sidebar


def test_start_up_removes_import_folders_whose_owner_died(app_home):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    stale = app_home / "datasets" / ".import-pets-x1"
    (stale / "train" / "cats").mkdir(parents=True)
    (stale / ".owner").write_text(f"{child.pid} \n")  # an import killed mid-way
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert not stale.exists()


def test_sidebar_names_the_dataset_without_its_path(tmp_path):
    folder = tmp_path / "a_rather_long_folder_name_for_cats_and_dogs"
    folder.mkdir()
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["ldl_active_dataset"] = str(folder)
    at.run()
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "**Dataset:** a_rather_long_folder_name_for_cats_and_dogs" in sidebar
    assert str(tmp_path) not in sidebar  # the path is in the tooltip, not broken mid-word


# Sentences the overview shows (the Korean page must show none of them).
HOME_SENTENCES = [
    "The blog's numbers, and this lab's",
    "How to use it",
    "The three methods",
    "Small CNN from scratch",
    "Start with the data, then follow the pages from top to bottom.",
]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_home_in_both_languages(language):
    at = korean.render(str(PROJECT_ROOT / "pages/home.py"), language, TIMEOUT)
    korean.assert_spoken(at, HOME_SENTENCES, language)


def test_query_parameter_sets_the_language_of_the_shell():
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["lang"] = "ko"
    at.run()
    assert not at.exception
    assert at.session_state["ldl_language"] == "ko"
    assert "세 가지 방법" in [s.value for s in at.subheader]
    assert at.selectbox(key="sidebar_language").value == "ko"


def test_sidebar_choice_is_remembered_for_the_next_session():
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert at.session_state["ldl_language"] == "en"
    at.selectbox(key="sidebar_language").select("ko").run()
    assert "세 가지 방법" in [s.value for s in at.subheader]
    later = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    later.run()
    assert later.session_state["ldl_language"] == "ko"  # from the app home's preferences


def test_a_custom_augmentation_is_described_in_korean():
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["lang"] = "ko"
    at.session_state["ldl_active_augment"] = (
        '{"rotation_degrees": 40.0, "horizontal_flip": true, "zoom": 0.0}'
    )
    at.run()
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "회전 각도 40" in sidebar and "좌우 뒤집기" in sidebar
    assert "rotation degrees" not in sidebar and "horizontal flip" not in sidebar
