"""The whole lab in a real browser: `streamlit run` driven through Chromium by Playwright.

Opens a freshly started server on `/train` first (a direct URL must get the app's
shell), checks that Start is in view with Bottleneck selected, switches the dataset
and reloads (it must stay), moves an augmentation slider and sees the preview
change, starts a one-epoch run on the demo dataset and sees its chart and then its
row on Compare, uploads an image on Predict and sees probabilities. No page may show
a Python repr. Screenshots of every page at 1400x1000 go to `artifacts/screenshots/`
(the test prints where).
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
VIEWPORT = {"width": 1400, "height": 1000}  # a laptop
REPRS = ("DeltaGenerator", "object at 0x", "Traceback")
# True once every image has loaded, every Altair chart has drawn its canvas or SVG, and
# nothing is a placeholder or left faded from the previous run.
DRAWN = """() => {
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return images.every(i => i.complete && i.naturalWidth > 0)
    && charts.every(c => c.querySelector('canvas, svg.marks'))
    && !document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]');
}"""
# True once the variants (every image but the original, the first) differ from `before`.
PREVIEW_CHANGED = """before => {
  const now = [...document.querySelectorAll('[data-testid="stImage"] img')].map(e => e.src);
  return now.length >= 10 && now.slice(1).join() !== before.slice(1).join();
}"""

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
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
    """A `streamlit run` server on a free port with a fresh app home; stopped afterwards.

    The app home holds a tiny second dataset, `pets`, to switch to and back.
    """
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("validation", 2)):
        for name in ("cats", "dogs"):
            folder = app_home / "datasets" / "pets" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}{i}.png")
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
    """The laptop's view (for the README), and the whole page in a tall window (to review)."""
    (SHOTS / "whole").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 3200})
    page.wait_for_timeout(700)
    page.screenshot(path=str(SHOTS / "whole" / f"{name}.png"))
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(300)


def _go(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for its title."""
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=WAIT_MS)


def _no_repr(page) -> None:
    """Nothing on the page is Python's own text (a repr, a docstring, a traceback)."""
    text = page.inner_text("body")
    assert not [r for r in REPRS if r in text], text[:3000]


def _sidebar(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _idle(page) -> None:
    """Wait until Streamlit has finished rerunning and every image and chart is drawn."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)
    page.wait_for_function(DRAWN, timeout=WAIT_MS)


def _preview_sources(page) -> list[str]:
    return page.locator('[data-testid="stImage"] img').evaluate_all("els => els.map(e => e.src)")


def test_the_lab_in_a_browser(app_url, app_home, tmp_path):
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
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(WAIT_MS)
        try:
            _walk_through(page, app_url, picture, app_home / "datasets" / "pets")
        except Exception:
            _shot(page, "failure")
            raise
        browser.close()
    from core.store import RunStore

    held_out = RunStore(app_home / "runs.sqlite").evaluations()
    assert held_out and held_out[0].data_path == "demo"  # Compare's button stored it
    print(f"\nscreenshots in {SHOTS}")


def _guide_in_both_languages(page, app_url: str) -> None:
    """The Guide from the navigation, then in Korean from the address (?lang=ko)."""
    _go(page, "Guide")
    page.get_by_role("heading", name="What to try next").wait_for()
    _idle(page)
    _no_repr(page)
    _shot(page, "guide")
    page.goto(f"{app_url}/guide?lang=ko")
    page.get_by_role("heading", name="가이드").first.wait_for()
    page.get_by_role("heading", name="다음에 해 볼 것").wait_for()
    _idle(page)
    _no_repr(page)
    _shot(page, "guide_ko")
    page.goto(f"{app_url}/?lang=en")  # back to English for the rest of the tour
    page.get_by_role("heading", name="The three methods").wait_for()
    _idle(page)


def _walk_through(page, app_url: str, picture: Path, pets: Path) -> None:
    """Every page in turn, as a user would, with a screenshot of each."""
    _first_request_on_train(page, app_url)

    page.goto(app_url)
    page.get_by_role("heading", name="Little Data Lab").first.wait_for()
    page.get_by_role("heading", name="The three methods").wait_for()
    _idle(page)
    _no_repr(page)
    _shot(page, "home")
    _guide_in_both_languages(page, app_url)

    page.get_by_role("link", name="Start here").click()
    page.get_by_role("heading", name="Data").first.wait_for()
    page.get_by_text("Samples", exact=True).wait_for()
    page.locator('[data-testid="stImage"] img').nth(11).wait_for()  # six per class
    _idle(page)
    _no_repr(page)
    _shot(page, "data")
    _switch_dataset_and_reload(page, pets)

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
    _no_repr(page)
    _shot(page, "augment")
    page.locator(".st-key-augment_use").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    _shot(page, "augment_code")  # the buttons' labels and the generated code, uncut

    # Train: a few epochs at 32 px on the demo; its chart appears, then its result.
    _go(page, "Train")
    for key, value in (("train_epochs_scratch", "4"), ("train_size_scratch", "32")):
        field = page.locator(f".st-key-{key} input")
        field.fill(value)
        field.press("Enter")
        _idle(page)
    page.locator(".st-key-train_start button").click()
    page.locator(
        ".st-key-train_epoch_curves canvas, .st-key-train_epoch_curves svg"
    ).first.wait_for(timeout=TRAIN_WAIT_MS)
    page.get_by_text("Validation accuracy").first.wait_for(timeout=TRAIN_WAIT_MS)
    page.locator(".st-key-train_stop").wait_for(state="detached")  # nothing left to stop
    _idle(page)
    _no_repr(page)
    # The run's part of the page: Start at the top, then the heading, progress and curves.
    page.locator(".st-key-train_start").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    _shot(page, "train")
    page.get_by_text("Queue the blog's three experiments").click()
    page.locator(".st-key-train_blog_confirm").wait_for()
    assert page.locator(".st-key-train_blog button").is_disabled()  # not before a confirmation
    _shot(page, "train_blog")
    # A pretrained method: its image size is the network's native one, the blog's a click away.
    page.locator(".st-key-train_method").get_by_text("Bottleneck features").click()
    page.locator(".st-key-train_blog_settings button").first.wait_for()
    _idle(page)
    # Waits for the rerun the click starts (on a busy machine it may not have begun when
    # _idle looked), then fails if the size is not the network's native one.
    size = page.locator(".st-key-train_size_bottleneck input")
    playwright_api.expect(size).to_have_value("224", timeout=WAIT_MS)
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "train_bottleneck")

    _go(page, "Compare")
    page.get_by_text("Validation accuracy").first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    _idle(page)
    _no_repr(page)
    _shot(page, "compare")
    # Hold-out: score the run on a labelled folder (the demo's default split here); the
    # page reruns with the figures in the table, beside validation accuracy.
    page.get_by_text("Evaluate on a hold-out folder").click()
    page.locator(".st-key-compare_holdout_go button").click()
    _idle(page)
    _no_repr(page)
    assert page.locator('[data-testid="stAlert"]:has-text("trained on")').count() == 0
    _shot(page, "compare_holdout")

    _go(page, "Predict")
    _idle(page)
    if page.locator(".st-key-predict_runs [data-baseweb=tag]").count() == 0:
        # A run no better than chance is never preselected: choose it by hand.
        page.locator(".st-key-predict_runs input").click()
        page.get_by_role("option").first.click()
        page.keyboard.press("Escape")
        _idle(page)
    page.locator(".st-key-predict_upload input[type=file]").set_input_files(str(picture))
    page.locator(".st-key-predict_probabilities_0 [data-testid=stVegaLiteChart]").wait_for()
    _idle(page)
    # A validation picture of the demo: the map of where the model looked is not flat.
    page.locator(".st-key-predict_class input").click()
    page.get_by_role("option").first.click()
    page.locator(".st-key-predict_gradcam_1 img").wait_for()
    _idle(page)
    contrast = _heatmap_contrast(page, 1)
    headline = page.locator(".st-key-predict_probabilities_1 [data-testid=stMetricValue]")
    assert contrast > 0.3, f"a flat Grad-CAM ({contrast:.2f}) for {headline.first.inner_text()}"
    _no_repr(page)
    _shot(page, "predict")


def _heatmap_contrast(page, index: int) -> float:
    """The spread of the heat map's colours, recovered from the overlay and the input.

    The overlay is 0.6 * picture + 0.4 * jet colours (core.explain.overlay_heatmap), so
    the colours come back from the two images the page shows; a flat map is one colour.
    """
    import io

    def pixels(key: str) -> np.ndarray:
        src = page.locator(f".st-key-{key} img").first.get_attribute("src")
        url = src if src.startswith("http") else page.url.split("/", 3)[:3]
        if not src.startswith("http"):
            url = "/".join(url) + src
        data = page.request.get(url).body()
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)

    picture, overlay = pixels(f"predict_input_{index}"), pixels(f"predict_gradcam_{index}")
    colours = (overlay - 0.6 * picture) / 0.4
    warmth = (colours[..., 0] - colours[..., 2]) / 255  # jet: blue (cold) to red (hot)
    return float(np.percentile(warmth, 95) - np.percentile(warmth, 5))


def _first_request_on_train(page, app_url: str) -> None:
    """A direct URL on a fresh server gets the app's shell; Start is in view with Bottleneck."""
    page.goto(f"{app_url}/train")
    page.get_by_role("heading", name="Train").first.wait_for()
    _idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for title in ("Overview", "Data", "Augment", "Train", "Compare", "Predict"):
        assert nav.get_by_role("link", name=title, exact=True).count() == 1, title
    assert "streamlit app" not in nav.inner_text().lower()  # not the legacy file names
    assert "Dataset:" in _sidebar(page) and "Runner:" in _sidebar(page)
    assert "Little Data Lab" in page.title()
    page.get_by_text("Bottleneck features of a pretrained network").click()
    _idle(page)
    if page.locator(".st-key-train_start").count() == 0:  # no ImageNet weights here
        page.locator(".st-key-train_random_bottleneck label").click()
        _idle(page)
    box = page.locator(".st-key-train_start button").bounding_box()
    assert box["y"] + box["height"] <= VIEWPORT["height"], box
    _no_repr(page)
    _shot(page, "train_bottleneck")
    page.get_by_text("Small CNN from scratch").first.click()
    _idle(page)


def _switch_dataset_and_reload(page, pets: Path) -> None:
    """The active dataset survives a reload; the Data page opens on it; back to the demo."""
    page.get_by_text("A folder", exact=True).click()
    field = page.locator(".st-key-data_path input")
    field.fill(str(pets))
    field.press("Enter")
    _idle(page)
    page.locator(".st-key-data_use_folder button").click()
    page.get_by_role("heading", name="pets").wait_for()
    page.reload()
    page.get_by_role("heading", name="pets").wait_for()
    _idle(page)
    assert "Dataset: pets" in " ".join(_sidebar(page).split())
    assert page.get_by_role("radio", name="A folder").is_checked()
    page.get_by_text("Demo (synthetic)", exact=True).click()
    page.locator(".st-key-data_use_demo button").click()
    page.get_by_text("Dataset: demo (synthetic)").wait_for()
    _idle(page)
