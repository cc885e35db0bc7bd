"""The overview page, and the pages that must start without TensorFlow."""

import subprocess
import sys
import textwrap

from streamlit.testing.v1 import AppTest

from core.paths import PROJECT_ROOT

TIMEOUT = 60


def test_home_renders_methods_and_blog_numbers():
    at = AppTest.from_file(str(PROJECT_ROOT / "pages/home.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "from scratch" in text.lower() and "bottleneck" in text.lower()
    reference = at.dataframe[0].value
    assert list(reference["method"]) == ["scratch", "bottleneck", "finetune"]
    assert list(reference["validation accuracy"]) == ["0.79–0.81", "0.90–0.91", "0.94"]


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
