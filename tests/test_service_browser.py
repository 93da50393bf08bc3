"""The web page in a real browser: upload → progress → result → download a .vital that re-renders.

Drives the system Chromium (Debian package ``chromium``) with Playwright's Python client against a
real server on 127.0.0.1 matching with the engine on a tiny budget.
"""

from __future__ import annotations

import pathlib
import shutil
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the [service] extra (fastapi, uvicorn)")
pytest.importorskip("uvicorn", reason="the service needs the [service] extra (fastapi, uvicorn)")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs Playwright's Python client (pip install playwright)"
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)

pytestmark = [
    pytest.mark.vita,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from synthmatch.service import ServiceConfig, create_app

    data = tmp_path_factory.mktemp("service")
    app = create_app(
        ServiceConfig(data_dir=str(data), workers=2, tutorial=False, rate_per_s=0, uploads_per_min=0)
    )
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_upload_progress_result_and_a_preset_that_renders(server, browser, tmp_path, render_pool):
    from synthmatch.render import Probe
    from synthmatch.vital.preset import Preset

    page = browser.new_page(accept_downloads=True)
    page.goto(server + "/")
    page.click("#options summary")  # the settings fold away
    page.fill("#budget", "16")  # the page's smallest budget
    page.set_input_files("#file-input", str(ROOT / "examples" / "sounds" / "pluck_c4.wav"))
    if page.is_visible("#submit") and page.is_enabled("#submit"):
        page.click("#submit")
    page.wait_for_selector("#progress", state="visible", timeout=30_000)
    page.wait_for_selector("#result[data-state='done']", state="visible", timeout=180_000)
    assert page.locator("#candidates tr").count() >= 2  # a header and at least one candidate
    with page.expect_download() as dl:
        page.click("#download-preset")
    path = tmp_path / "downloaded.vital"
    dl.value.save_as(path)
    preset = Preset.from_file(path)
    out = render_pool.render([preset], Probe(note_seconds=0.5, render_seconds=1.0))[0]
    assert out.ok and float(np.max(np.abs(out.audio))) > 1e-3
    page.close()


def test_a_bad_file_gets_a_clear_message(server, browser, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not audio")
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file-input", str(bad))
    if page.is_visible("#submit") and page.is_enabled("#submit"):
        page.click("#submit")
    alert = page.locator("#alert")
    alert.wait_for(state="visible", timeout=30_000)
    assert "audio" in alert.inner_text().lower()
    page.close()
