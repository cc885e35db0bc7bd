"""The Train page's monitor: a progress bar with counts for every phase of a run.

The phases are written into the run store directly, as the worker process would.
"""

from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT
from core.store import RunStore

PAGE = str(PROJECT_ROOT / "pages/train.py")
TIMEOUT = 180


def _running_run(make_run, epochs: int = 3) -> int:
    return make_run(  # running in this test process: alive
        "bottleneck", status="running", name="cats", backbone="mobilenet_v2_1.0", epochs=epochs
    ).id


def _bars(at) -> list[tuple[int, str]]:
    return [(bar.proto.value, bar.proto.text) for bar in at.get("progress")]


def test_each_phase_shows_a_bar_with_counts_instead_of_a_blind_caption(make_run):
    store = RunStore()
    run_id = _running_run(make_run)
    store.set_phase(run_id, "decode", 1234, 2800)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert _bars(at) == [(44, "Decoding images 1,234 / 2,800")]
    assert not any("Loading images" in c.value for c in at.caption)

    store.set_phase(run_id, "extract", 40, 175)
    at.run()
    assert _bars(at) == [(22, "Extracting features, batch 40 / 175")]

    # Training: the epoch bar alone, with a smoothed ETA from the logged epochs.
    store.set_phase(run_id, "train")
    store.log_epoch(run_id, 1, {"loss": 0.5, "accuracy": 0.8, "seconds": 30.0})
    store.log_epoch(run_id, 2, {"loss": 0.4, "accuracy": 0.85, "seconds": 10.0})
    store.log_batch(run_id, 3, 63, 125, {"loss": 0.3, "accuracy": 0.9})
    at.run()
    ((value, text),) = _bars(at)
    assert "epoch 3/3 · batch 63/125" in text and "ETA 5 s" in text  # 10 s x 62/125

    # Evaluation after the last epoch: its own bar, above the full epoch bar.
    store.log_batch(run_id, 3, 125, 125, {"loss": 0.3, "accuracy": 0.9})
    store.set_phase(run_id, "evaluate", 320, 800)
    at.run()
    assert _bars(at)[0] == (40, "Evaluating 320 / 800")
    assert _bars(at)[1][0] == 100

    store.finish(run_id, "finished")  # a finished run shows no phase any more
    at.run()
    assert [text for _, text in _bars(at)] == ["epoch 3/3 · batch 125/125"]


def test_preparing_and_fine_tunings_stage1_in_words(make_run):
    store = RunStore()
    run_id = _running_run(make_run, epochs=10)
    store.set_phase(run_id, "prepare")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert _bars(at) == [(0, "Building the model and tracing its first training step…")]
    store.set_phase(run_id, "stage1", 3, 50)
    at.run()
    assert _bars(at) == [(6, "Stage 1, training the top model: epoch 3 / 50")]


def _sidebar_app():
    import labui

    labui.sidebar()


def test_the_sidebar_names_the_phase_of_the_running_run(make_run):
    store = RunStore()
    run_id = _running_run(make_run)
    store.set_phase(run_id, "decode", 1234, 2800)
    at = AppTest.from_function(_sidebar_app, default_timeout=TIMEOUT).run()
    assert not at.exception
    texts = [m.value for m in at.sidebar.markdown]
    assert any("decoding images 1,234 / 2,800" in t and f"#{run_id}" in t for t in texts), texts
