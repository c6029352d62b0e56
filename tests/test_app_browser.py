"""End to end in headless Chromium: `python app.py`, upload a sample video, describe, click a preset, search,
then check results, a playable muxed preview, the map, and a saved rating. Leaves test-output/app.png.

Uses Debian's /usr/bin/chromium through Playwright (never `playwright install`); skipped when it is absent.
The app runs on a writable copy of the bundled index, so ratings never touch the repository.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from app_helpers import isolated_app
from vml_demo import config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT_DIR = config.REPO_ROOT / "test-output"
SAMPLE_VIDEO = config.SAMPLE_VIDEOS_DIR / "cockatoo.mp4"  # has its own sound: exercises the mix too
RESULTS = 3

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="no /usr/bin/chromium: run `bash setup.sh` (apt-get install chromium) "
                                       "to run the browser test")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    work = tmp_path_factory.mktemp("browser-app")
    try:
        with isolated_app(work) as running:
            yield SimpleNamespace(url=running.url, sessions=work / "tmp" / "vml_demo_sessions")
    finally:
        if (work / "app.log").exists():  # keep the server's log with the screenshot
            OUTPUT_DIR.mkdir(exist_ok=True)
            shutil.copyfile(work / "app.log", OUTPUT_DIR / "app_browser_server.log")


@contextlib.contextmanager
def app_page(app):
    """A headless Chromium page on the app; fails the test on any JavaScript error the page raised."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(app.url)
            yield page
        finally:
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def set_results_count(page, n: int) -> None:
    count = page.locator("#results-count input[type=number]")
    count.fill(str(n))
    count.press("Tab")


def test_search_with_video_text_and_preset(app):
    from playwright.sync_api import expect

    OUTPUT_DIR.mkdir(exist_ok=True)
    with app_page(app) as page:
        # The page is up once the engine status has loaded (the bundled library, in the background).
        expect(page.locator("#engine-status")).to_contain_text("Profile", timeout=120_000)
        expect(page.locator("#space-map .js-plotly-plot")).to_be_visible(timeout=30_000)

        # An empty query is refused with a message, and the page keeps working.
        page.locator("#run-search").click()
        expect(page.get_by_text("Give a video, a description of the music, or both").first).to_be_visible(
            timeout=30_000)

        page.locator("#query-video input[type=file]").set_input_files(str(SAMPLE_VIDEO))
        expect(page.locator("#query-video video")).to_be_visible(timeout=30_000)
        page.locator("#query-text textarea").fill("bright playful music for a bird")
        page.get_by_role("tab", name="Mood tags").click()
        page.locator("#preset-mood label", has_text="happy").first.click()
        expect(page.locator("#preset-mood input[type=checkbox]:checked")).to_have_count(1)
        set_results_count(page, RESULTS)  # fewer results keep the test short
        page.locator("#run-search").click()

        summary = page.locator("#search-summary")
        expect(summary).to_contain_text(f"{RESULTS} results", timeout=120_000)
        expect(summary).to_contain_text("happy")
        expect(summary).to_contain_text("cockatoo.mp4")
        for rank in range(1, RESULTS + 1):
            card = page.locator(f"#result-{rank}")
            expect(card).to_be_visible()
            expect(card).to_contain_text("score")
        expect(page.locator(f"#result-{RESULTS + 1}")).to_be_hidden()

        # The muxed previews: all made, and the top one a <video> whose source loads and has a duration.
        expect(page.locator("#preview-status")).to_contain_text(f"{RESULTS} of {RESULTS} ready", timeout=180_000)
        video = page.locator("#result-1-preview video")
        expect(video).to_be_attached(timeout=180_000)
        page.wait_for_function(
            """() => { const v = document.querySelector('#result-1-preview video');
                       return v && v.readyState >= 1 && v.duration > 1; }""", timeout=60_000)
        src = video.get_attribute("src")
        assert src and ".mp4" in src

        # The map shows the query's points and the highlighted results.
        legend = page.locator("#space-map .legend")
        expect(legend).to_contain_text("query: fused", timeout=30_000)
        expect(legend).to_contain_text("results")

        page.locator("#result-1-up").click()
        expect(page.locator("#result-1")).to_contain_text("Saved", timeout=30_000)

        page.wait_for_timeout(500)
        page.screenshot(path=str(OUTPUT_DIR / "app.png"), full_page=True)

        # The session's own folder holds its previews, and goes when the tab closes.
        folders = {p.parents[1] for p in app.sessions.glob("*/*/cockatoo+01_*.mp4")}
        assert len(folders) == 1, folders
        session_folder = folders.pop()
        page.close()
        deadline = time.monotonic() + 90
        while session_folder.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not session_folder.exists(), "the session's folder outlived its tab"
    assert (OUTPUT_DIR / "app.png").stat().st_size > 10_000


def test_bad_input_in_the_browser_gets_one_line(app, tmp_path):
    """A few rows of the bad-input matrix as a visitor meets them: a message on the page, and it keeps working."""
    from playwright.sync_api import expect

    import media_factory as mf

    renamed = mf.text_file(tmp_path / "holiday.mp4")
    with app_page(app) as page:
        expect(page.locator("#engine-status")).to_contain_text("Profile", timeout=120_000)
        assert str(config.REPO_ROOT) not in page.content()  # no server path anywhere on the page

        page.locator("#query-text textarea").fill("calm piano " * 910)  # 10k characters
        page.locator("#run-search").click()
        expect(page.get_by_text("The description is too long").first).to_be_visible(timeout=60_000)

        page.locator("#query-text textarea").fill("calm piano")
        page.locator("#query-video input[type=file]").set_input_files(str(renamed))
        page.locator("#run-search").click()
        expect(page.get_by_text("is not a video or audio file").first).to_be_visible(timeout=60_000)
        assert str(tmp_path) not in page.content()

        page.get_by_role("tab", name="Libraries").click()
        page.get_by_role("button", name="Index").click()
        expect(page.get_by_text("Upload some audio files").first).to_be_visible(timeout=30_000)
        expect(page.get_by_label("...or a folder on the server")).to_have_count(0)  # no roots: uploads only


def _result_titles(page, n: int) -> list[str]:
    return [page.locator(f"#result-{rank} h3").first.inner_text() for rank in range(1, n + 1)]


def test_filter_more_like_this_refine_and_a_playing_preview(app):
    """A search with filters, "more like this" on a result (the track itself not returned), a refine with words,
    and the refined search's preview playing in the page."""
    from playwright.sync_api import expect

    n = 2
    with app_page(app) as page:
        expect(page.locator("#engine-status")).to_contain_text("Profile", timeout=120_000)
        page.locator("#query-video input[type=file]").set_input_files(str(config.SAMPLE_VIDEOS_DIR / "underwater.mp4"))
        expect(page.locator("#query-video video")).to_be_visible(timeout=30_000)
        page.locator("#query-text textarea").fill("calm ambient music")
        set_results_count(page, n)
        page.get_by_text("Filters, and search like a clip").first.click()
        page.locator("#filter-vocals label", has_text="instrumental").click()
        page.locator("#filter-license input").click()
        page.get_by_role("option", name="permissive", exact=True).click()
        page.locator("#run-search").click()

        summary = page.locator("#search-summary")
        expect(summary).to_contain_text(f"{n} results", timeout=120_000)
        expect(summary).to_contain_text("Filters: instrumental removed")
        expect(summary).to_contain_text("license permissive removed")
        for rank in range(1, n + 1):
            card = page.locator(f"#result-{rank}")
            expect(card).to_contain_text("instrumental", timeout=120_000)
            expect(card).to_contain_text("license")  # the breakdown line
            assert any(c in card.inner_text() for c in ("permissive license", "public-domain license"))
        expect(page.locator("#preview-status")).to_contain_text(f"{n} of {n} ready", timeout=180_000)

        first = _result_titles(page, 1)[0].split(". ", 1)[1]
        page.locator("#result-1-like").click()
        expect(summary).to_contain_text("more like", timeout=120_000)
        expect(summary).to_contain_text(first.split(" — ")[0][:20])
        expect(page.locator("#result-1")).to_contain_text("like fit", timeout=60_000)
        assert all(first not in t for t in _result_titles(page, n))  # the liked track is not among them
        expect(page.locator("#preview-status")).to_contain_text(f"{n} of {n} ready", timeout=180_000)

        page.locator("#result-2-refine-text textarea, #result-2-refine-text input").first.fill("calmer")
        page.locator("#result-2-refine").click()
        expect(summary).to_contain_text("Refined: query = normalise(track", timeout=120_000)
        expect(page.locator("#result-1")).to_contain_text("text fit", timeout=60_000)

        # The refined search's preview (the video with the track) plays: its clock moves.
        expect(page.locator("#preview-status")).to_contain_text(f"{n} of {n} ready", timeout=180_000)
        page.wait_for_function(
            """() => { const v = document.querySelector('#result-1-preview video');
                       return v && v.readyState >= 1 && v.duration > 1; }""", timeout=60_000)
        page.evaluate("""() => { const v = document.querySelector('#result-1-preview video');
                                 v.muted = true; return v.play(); }""")
        page.wait_for_function("() => document.querySelector('#result-1-preview video').currentTime > 0.5",
                               timeout=30_000)
        page.screenshot(path=str(OUTPUT_DIR / "app_creator_tools.png"), full_page=True)
