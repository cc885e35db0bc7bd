"""The whole lab in a real browser: `streamlit run` driven through Chromium by Playwright.

Opens the app, moves an augmentation slider and sees the preview change, starts a
one-epoch run on the demo dataset and sees its chart and then its row on Compare,
uploads an image on Predict and sees probabilities. Screenshots of every page go
to `artifacts/screenshots/` (the test prints where).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.paths import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
WAIT_MS = 60_000  # the machine is busy: be patient, the test is short anyway
TRAIN_WAIT_MS = 300_000
# True once every image has loaded and every Altair chart has drawn its canvas or SVG.
DRAWN = """() => {
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return images.every(i => i.complete && i.naturalWidth > 0)
    && charts.every(c => c.querySelector('canvas, svg.marks'));
}"""
# True once the variants (every image but the original, the first) differ from `before`.
PREVIEW_CHANGED = """before => {
  const now = [...document.querySelectorAll('[data-testid="stImage"] img')].map(e => e.src);
  return now.length >= 10 && now.slice(1).join() !== before.slice(1).join();
}"""

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(app_home, tmp_path):
    """A `streamlit run` server on a free port with a fresh app home; stopped afterwards."""
    port = _free_port()
    env = {**os.environ, "LDL_HOME": str(app_home), "LDL_WORKER_IDLE_S": "3"}
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
    yield url
    server.terminate()
    server.wait(timeout=20)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _go(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for its title."""
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=WAIT_MS)


def _idle(page) -> None:
    """Wait until Streamlit has finished rerunning and every image and chart is drawn."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)
    page.wait_for_function(DRAWN, timeout=WAIT_MS)


def _preview_sources(page) -> list[str]:
    return page.locator('[data-testid="stImage"] img').evaluate_all("els => els.map(e => e.src)")


def test_the_lab_in_a_browser(app_url, tmp_path):
    picture = tmp_path / "red_square.png"
    image = np.zeros((96, 96, 3), np.uint8)
    image[24:72, 24:72] = (220, 30, 30)
    Image.fromarray(image).save(picture)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.set_default_timeout(WAIT_MS)
        try:
            _walk_through(page, app_url, picture)
        except Exception:
            _shot(page, "failure")
            raise
        browser.close()
    print(f"\nscreenshots in {SHOTS}")


def _walk_through(page, app_url: str, picture: Path) -> None:
    """Every page in turn, as a user would, with a screenshot of each."""
    page.goto(app_url)
    page.get_by_role("heading", name="Little Data Lab").first.wait_for()
    page.get_by_role("heading", name="The three methods").wait_for()
    _idle(page)
    _shot(page, "home")

    _go(page, "Data")
    page.get_by_text("Samples", exact=True).wait_for()
    _idle(page)
    _shot(page, "data")

    # Augment: moving a slider redraws the preview grid.
    _go(page, "Augment")
    page.locator('[data-testid="stImage"] img').nth(9).wait_for()
    _idle(page)
    before = _preview_sources(page)
    slider = page.locator(".st-key-augment_rotation_degrees input[type=range]")
    start = slider.input_value()
    for _ in range(5):  # a key press during a rerun can be lost: press until the value moves
        for _ in range(5):
            slider.press("ArrowRight")
        page.wait_for_timeout(1000)
        if slider.input_value() != start:
            break
    assert slider.input_value() != start
    page.wait_for_function(PREVIEW_CHANGED, arg=before)
    _idle(page)
    _shot(page, "augment")

    # Train: one epoch at 32 px on the demo; its chart appears, then its result.
    _go(page, "Train")
    for key, value in (("train_epochs_scratch", "1"), ("train_size_scratch", "32")):
        field = page.locator(f".st-key-{key} input")
        field.fill(value)
        field.press("Enter")
        _idle(page)
    page.locator(".st-key-train_start button").click()
    page.locator(
        ".st-key-train_epoch_curves canvas, .st-key-train_epoch_curves svg"
    ).first.wait_for(timeout=TRAIN_WAIT_MS)
    page.get_by_text("Validation accuracy").first.wait_for(timeout=TRAIN_WAIT_MS)
    _shot(page, "train")

    _go(page, "Compare")
    page.get_by_text("Validation accuracy").first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.locator(".st-key-compare_run input").input_value().startswith("#1 ")
    _idle(page)
    _shot(page, "compare")

    _go(page, "Predict")
    page.locator(".st-key-predict_upload input[type=file]").set_input_files(str(picture))
    page.locator(".st-key-predict_probabilities_0 [data-testid=stVegaLiteChart]").wait_for()
    _idle(page)
    _shot(page, "predict")
