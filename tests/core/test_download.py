"""The download path, against a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import socket
import threading
from functools import partial

import pytest

from core.datasets import load_dataset
from core.download import download_cats_vs_dogs, fetch
from core.errors import DownloadError
from tests.core.image_factory import make_image_folder, zip_folder

LAYOUT = {"train": {"cats": 3, "dogs": 3}, "validation": {"cats": 2, "dogs": 2}}


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves `tmp_path/www` on a free port; yields (base url, served folder, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = type("Handler", (_Handler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=www))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, handler.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def archive(server, tmp_path):
    """A small cats_and_dogs_filtered.zip, laid out like the real one, on the server."""
    base, www, _ = server
    src = make_image_folder(tmp_path / "src", LAYOUT)
    (src / "vectorize.py").write_text("# shipped with the real archive\n")
    path = zip_folder(src, www / "cats_and_dogs_filtered.zip", prefix="cats_and_dogs_filtered/")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"url": f"{base}/cats_and_dogs_filtered.zip", "sha256": sha, "size": path.stat().st_size}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_extract_and_cache(app_home, server, archive):
    _, _, requests = server
    seen = []
    root = download_cats_vs_dogs(lambda done, total: seen.append((done, total)), **archive)
    assert root == app_home / "datasets" / "cats_and_dogs_filtered" / "cats_and_dogs_filtered"
    assert load_dataset(root).counts() == {
        "train": {"cats": 3, "dogs": 3},
        "validation": {"cats": 2, "dogs": 2},
    }
    assert seen[-1] == (archive["size"], archive["size"])
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
    assert not list((app_home / "downloads").iterdir())  # The zip is not kept.
    # Second call: served from the extracted copy, no request made.
    assert download_cats_vs_dogs(**archive) == root
    assert requests == ["/cats_and_dogs_filtered.zip"]


def test_checksum_mismatch_leaves_nothing(app_home, archive):
    with pytest.raises(DownloadError, match="is corrupt .*SHA-256.*import a zip") as info:
        download_cats_vs_dogs(**{**archive, "sha256": "0" * 64})
    assert str(info.value).count(". ") == 0  # One sentence.
    assert not list((app_home / "downloads").iterdir())
    assert not (app_home / "datasets" / "cats_and_dogs_filtered").exists()


def test_size_mismatch(archive):
    with pytest.raises(DownloadError, match="bytes instead of"):
        download_cats_vs_dogs(**{**archive, "size": archive["size"] + 1})


def test_server_not_there(app_home):
    url = f"http://127.0.0.1:{_free_port()}/cats_and_dogs_filtered.zip"
    with pytest.raises(DownloadError) as info:
        download_cats_vs_dogs(url=url, sha256=None, size=None)
    message = str(info.value)
    assert "offline" in message and "folder of images" in message and "import a zip" in message
    assert message.endswith(".") and "\n" not in message
    assert not (app_home / "datasets" / "cats_and_dogs_filtered").exists()


def test_http_error(server):
    base, _, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_cats_vs_dogs(url=f"{base}/missing.zip", sha256=None, size=None)


def test_fetch_reuses_a_verified_file_and_replaces_a_bad_one(server, archive, tmp_path):
    _, _, requests = server
    dest = tmp_path / "dl" / "a.zip"
    fetch(archive["url"], dest, sha256=archive["sha256"])
    fetch(archive["url"], dest, sha256=archive["sha256"])
    assert len(requests) == 1
    dest.write_bytes(b"stale")
    fetch(archive["url"], dest, sha256=archive["sha256"])
    assert len(requests) == 2 and dest.stat().st_size == archive["size"]


def test_archive_without_a_dataset(server, tmp_path):
    base, www, _ = server
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("no images")
    zip_folder(tmp_path / "junk", www / "junk.zip")
    with pytest.raises(DownloadError, match="cannot be used"):
        download_cats_vs_dogs(url=f"{base}/junk.zip", sha256=None, size=None)
