"""The real `zaobot serve` process, driven through a fake Telegram Bot API server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import logging
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import jpeg_bytes
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.serve_harness import alive
from tests.telegram_harness import MODERATOR, Bot

log = logging.getLogger("zaobot.tests")


@pytest.fixture(scope="module")
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("tgbot")
    b = Bot(fake, root / "data", root / "serve.log", ZAOBOT_RENDERS_PER_HOUR="3").start()
    yield b
    b.stop()
    assert TOKEN not in (root / "serve.log").read_text(), "the bot token leaked into the logs"


@pytest.fixture()
def lone_fake():
    """A Bot API server of its own, for a test that runs (and kills) its own bot: the module's bot
    polls the module's server and would take the test's updates."""
    server = FakeTelegram().start()
    yield server
    server.stop()


def selfie_stuck_at(fake: FakeTelegram, bot: Bot, user: int, method: str, selfie: bytes, caption: str | None,
                    timeout: float) -> int:
    """A consenting user sends a selfie, and the bot's first `method` call hangs unanswered.
    Returns the fake's call mark from just before the selfie."""
    bot.consent(user)
    fake.hold_next(method)
    since = fake.mark()
    fake.send_photo(user, selfie, caption=caption)
    deadline = time.time() + timeout
    while not fake.held and time.time() < deadline:
        time.sleep(0.05)
    assert fake.held and fake.held[0].method == method
    return since


def video_of(call) -> bytes:
    return call.files["video"]


def probe_bytes(tmp_path, data: bytes):
    from zaobot.media.video import probe

    path = tmp_path / "got.mp4"
    path.write_bytes(data)
    return probe(path)


def render(fake, user: int, selfie: bytes, caption: str = "demo", timeout: float = 90):
    since = fake.mark()
    fake.send_photo(user, selfie, caption=caption)
    return fake.wait_for(lambda c: c.method == "sendVideo" and str(c.params["chat_id"]) == str(user), timeout, since)


def test_consent_gate_drops_media_sent_before_agreeing(bot, fake, demo_selfie_bytes):
    user = 101
    since = fake.mark()
    file_id = fake.send_photo(user, demo_selfie_bytes, caption="demo")
    prompt = fake.wait_text(user, "Please tap Agree", 20, since)
    buttons = [b["callback_data"] for row in prompt.params["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["consent:yes", "consent:no"]
    time.sleep(0.5)
    assert not any(c.method == "getFile" and c.params.get("file_id") == file_id for c in fake.calls)
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user)) == []
    # Declining stores nothing either.
    fake.press(user, "consent:no")
    fake.wait_text(user, "Nothing about you was stored", 20, since)
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user)) == []
    # Chinese users get the prompt in Chinese.
    fake.send_text(102, "/start", lang="zh")
    fake.wait_text(102, "同意", 20, since)


def test_selfie_with_caption_gets_a_labelled_clip(bot, fake, demo_selfie_bytes, tmp_path):
    user = 111
    bot.consent(user)
    since = fake.mark()
    video = render(fake, user, demo_selfie_bytes)
    queued = fake.wait_text(user, "Queued (position", 5, since)
    fake.wait_for(lambda c: c.method == "editMessageText" and str(c.params["chat_id"]) == str(user)
                  and "Job " in str(c.params.get("text", "")), 30, since)  # the final edit follows the clip
    assert any(c.method == "sendChatAction" and c.params["action"] == "upload_video" for c in fake.calls_to(user))
    edits = [c for c in fake.calls_to(user, "editMessageText", since)]
    assert edits and all(c.params["message_id"] == edits[0].params["message_id"] for c in edits)
    info = probe_bytes(tmp_path, video_of(video))
    assert (info.video_codec, info.audio_codec, info.width, info.height, info.frames) == ("h264", "aac", 1280, 720, 125)
    caption = video.params["caption"]
    assert "AI生成 · AI-generated" in caption
    job_id = caption.rsplit("Job ", 1)[1].strip()
    assert video.params["supports_streaming"] == "true" and video.params["duration"] == "5"
    assert video.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"report:{job_id}"
    assert json.loads(info.metadata["comment"])["AIGC"]["ProduceID"] == job_id
    job = bot.rows("SELECT * FROM jobs WHERE id = ?", job_id)[0]
    assert job["status"] == "done" and job["output_file"]
    assert job["status_message"] == edits[0].params["message_id"]  # one status message, edited in place
    assert "Rendering" in edits[0].params["text"] and job_id in edits[-1].params["text"]
    assert queued.method == "sendMessage"
    assert [r["action"] for r in bot.rows("SELECT action FROM audit WHERE job_id = ? ORDER BY id", job_id)] == \
        ["job:queued", "render"]


def test_selfie_then_keyword_and_scene_buttons(bot, fake, demo_selfie_bytes):
    user = 121
    bot.consent(user)
    since = fake.mark()
    fake.send_photo(user, demo_selfie_bytes)
    pick = fake.wait_text(user, "Pick a scene", 30, since)
    assert pick.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "scene:demo"
    fake.send_text(user, "  JAWS ")
    fake.wait_text(user, "Available scenes: demo", 20, since)
    fake.send_text(user, "  DEMO ")
    fake.wait_for(lambda c: c.method == "sendVideo" and c.params["chat_id"] == str(user), 90, since)
    since = fake.mark()
    fake.send_text(user, "/scenes")
    fake.wait_text(user, "Pick a scene", 20, since)
    fake.press(user, "scene:demo")
    fake.wait_for(lambda c: c.method == "sendVideo" and c.params["chat_id"] == str(user), 90, since)


def _png_bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_every_bad_selfie_gets_its_message_and_nothing_is_kept(bot, fake, astronaut):
    from skimage import data

    user = 131
    bot.consent(user)
    gif = io.BytesIO()
    Image.fromarray(astronaut).save(gif, format="GIF", save_all=True,
                                    append_images=[Image.fromarray(astronaut[::-1].copy())])
    good = jpeg_bytes(astronaut)
    cases = [
        (lambda: fake.send_document(user, b"%PDF-1.4\n%%EOF\n", "me.jpg", "image/jpeg"), "isn't a photo"),
        (lambda: fake.send_photo(user, good[: len(good) // 2]), "damaged"),
        (lambda: fake.send_document(user, _png_bomb(), "big.png", "image/png"), "too large"),
        (lambda: fake.send_document(user, gif.getvalue(), "anim.gif", "image/gif"), "Animated"),
        (lambda: fake.send_photo(user, jpeg_bytes(np.ascontiguousarray(data.chelsea()))), "couldn't find a face"),
        (lambda: fake.send_photo(user, jpeg_bytes(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))),
         "found 2 faces"),
        (lambda: fake.send_photo(user, jpeg_bytes(astronaut[::2, ::2].copy())), "too small"),
        (lambda: fake.send_photo(user, good, claimed_size=50_000_000), "too big"),
    ]
    for send, needle in cases:
        since = fake.mark()
        file_id = send()
        fake.wait_text(user, needle, 30, since)
    uid = bot.rows("SELECT id FROM users WHERE platform_user_id = ?", str(user))[0]["id"]
    assert bot.rows("SELECT * FROM selfies WHERE user_id = ?", uid) == []
    # The oversized upload (the last case) was refused from its declared size, without downloading it.
    assert not any(c.method == "getFile" and c.params.get("file_id") == file_id for c in fake.calls)


def test_privacy_help_mydata_and_delete(bot, fake, demo_selfie_bytes):
    user = 141
    since = fake.mark()
    fake.send_text(user, "/privacy")
    fake.wait_text(user, "at most 24 h", 20, since)
    fake.send_text(user, "/help")
    fake.wait_text(user, "/delete", 20, since)
    bot.consent(user)
    video = render(fake, user, demo_selfie_bytes)
    job_id = video.params["caption"].rsplit("Job ", 1)[1].strip()

    fake.send_text(user, "/mydata")
    doc = fake.wait_for(lambda c: c.method == "sendDocument" and c.params["chat_id"] == str(user), 20, since)
    mydata = json.loads(doc.files["document"])
    assert mydata["jobs"][0]["job_id"] == job_id and mydata["selfies"][0]["expires_at"]

    uid = bot.rows("SELECT id FROM users WHERE platform_user_id = ?", str(user))[0]["id"]
    files = [r["file"] for r in bot.rows("SELECT file FROM selfies WHERE user_id = ?", uid)]
    files += [r["output_file"] for r in bot.rows("SELECT output_file FROM jobs WHERE user_id = ?", uid)]
    assert len(files) == 2 and all((bot.data_dir / "media" / f).is_file() for f in files)
    since = fake.mark()
    fake.send_text(user, "/delete")
    ask = fake.wait_text(user, "Are you sure", 20, since)
    assert [b["callback_data"] for b in ask.params["reply_markup"]["inline_keyboard"][0]] == ["delete:yes", "delete:no"]
    fake.press(user, "delete:yes")
    receipt = fake.wait_text(user, "Everything about you is deleted", 30, since)
    assert "1 selfie(s)" in receipt.params["text"] and "1 clip(s)" in receipt.params["text"]
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user)) == []
    assert bot.rows("SELECT * FROM jobs WHERE id = ?", job_id) == []
    assert not any((bot.data_dir / "media" / f).exists() for f in files)
    with bot.db() as conn:
        for table in ("users", "consents", "selfies", "jobs", "reports", "inbox"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                assert str(user) not in [str(v) for v in tuple(row)]


def test_one_at_a_time_and_hourly_limit(bot, fake, demo_selfie_bytes):
    user = 151
    bot.consent(user)
    since = fake.mark()
    fake.send_photo(user, demo_selfie_bytes, caption="demo")
    fake.wait_text(user, "Queued", 20, since)
    fake.send_text(user, "demo")
    fake.wait_text(user, "already have a clip in progress", 20, since)
    fake.wait_for(lambda c: c.method == "sendVideo" and c.params["chat_id"] == str(user), 90, since)
    for _ in range(2):
        s = fake.mark()
        fake.send_text(user, "demo")
        fake.wait_for(lambda c: c.method == "sendVideo" and c.params["chat_id"] == str(user), 90, s)
    s = fake.mark()
    fake.send_text(user, "demo")
    fake.wait_text(user, "reached 3 clips this hour", 20, s)


def test_moderator_commands_and_refusal_for_others(bot, fake, demo_selfie_bytes):
    user, mod = 161, MODERATOR
    bot.consent(user)
    video = render(fake, user, demo_selfie_bytes)
    job_id = video.params["caption"].rsplit("Job ", 1)[1].strip()
    since = fake.mark()
    fake.send_text(user, "/report " + job_id + " looks like a politician")
    fake.wait_text(user, "A moderator will look at report", 20, since)

    for command in ("/stats", "/queue", f"/takedown {job_id}", f"/ban {mod}", "/unban 1", "/purge 1", "/reports",
                    "/resolve 1", "/pause", "/resume"):
        s = fake.mark()
        fake.send_text(user, command)
        fake.wait_text(user, "don't know that command", 20, s)
    assert bot.rows("SELECT * FROM audit WHERE action LIKE 'moderator:%'") == []

    s = fake.mark()
    fake.send_text(mod, "/stats")
    fake.wait_text(mod, "jobs_done", 20, s)
    fake.send_text(mod, "/queue")
    fake.wait_text(mod, "queue empty", 20, s)
    fake.send_text(mod, "/reports")
    report = fake.wait_text(mod, "looks like a politician", 20, s)
    report_id = report.params["text"].split()[0].lstrip("#")
    fake.send_text(mod, f"/resolve {report_id}")
    fake.wait_text(mod, f"resolve #{report_id}", 20, s)
    fake.send_text(mod, f"/takedown {job_id} impersonation")
    fake.wait_text(mod, f"takedown {job_id}", 20, s)
    delivered = video.params["chat_id"]
    fake.wait_for(lambda c: c.method == "deleteMessage" and c.params["chat_id"] == delivered, 20, s)
    job = bot.rows("SELECT * FROM jobs WHERE id = ?", job_id)[0]
    assert job["status"] == "taken_down" and job["output_file"] is None

    fake.send_text(mod, f"/ban {user} spam")
    fake.wait_text(mod, f"ban {user}", 20, s)
    s2 = fake.mark()
    fake.send_text(user, "demo")
    fake.wait_text(user, "can't use the bot", 20, s2)
    fake.send_text(user, "/privacy")  # rights stay available to banned users
    fake.wait_text(user, "Privacy", 20, s2)
    fake.send_text(mod, f"/unban {user}")
    fake.wait_text(mod, f"unban {user}", 20, s2)

    fake.send_text(mod, "/pause")
    fake.wait_text(mod, "Paused", 20, s2)
    fake.send_text(user, "demo")
    fake.wait_text(user, "temporarily paused", 20, s2)
    fake.send_text(mod, "/resume")
    fake.wait_text(mod, "Resumed", 20, s2)

    fake.send_text(mod, f"/purge {user}")
    fake.wait_text(mod, f"purge {user}", 30, s2)
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user)) == []
    actions = {r["action"] for r in bot.rows("SELECT action FROM audit")}
    assert {"moderator:stats", "moderator:queue", "moderator:reports", "moderator:resolve", "moderator:takedown",
            "moderator:ban", "moderator:unban", "moderator:pause", "moderator:resume", "purge:moderator"} <= actions


def test_verify_a_delivered_clip(bot, fake, demo_selfie_bytes):
    user = 191
    bot.consent(user)
    video = render(fake, user, demo_selfie_bytes)
    job_id = video.params["caption"].rsplit("Job ", 1)[1].strip()
    since = fake.mark()
    fake.send_document(user, video_of(video), "clip.mp4", "video/mp4", caption="/verify")
    fake.wait_text(user, "don't know that command", 20, since)
    fake.send_document(MODERATOR, video_of(video), "clip.mp4", "video/mp4", caption="/verify")
    report = fake.wait_text(MODERATOR, "Invisible watermark: FOUND", 60, since)
    assert job_id in report.params["text"] and "User: exists" in report.params["text"]
    watermark = bot.rows("SELECT watermark_id FROM jobs WHERE id = ?", job_id)[0]["watermark_id"]
    assert watermark in report.params["text"]
    assert bot.rows("SELECT * FROM audit WHERE action = 'moderator:verify' AND job_id = ?", job_id)
    # Replying /verify to a forwarded clip works too.
    fake.files["fwdclip"] = video_of(video)
    forwarded = {"message_id": 1, "date": 0, "chat": {"id": MODERATOR, "type": "private"},
                 "video": {"file_id": "fwdclip", "file_unique_id": "fwdclip", "width": 1280, "height": 720,
                           "duration": 5}}
    since = fake.mark()
    fake.send_text(MODERATOR, "/verify", reply_to=forwarded)
    assert job_id in fake.wait_text(MODERATOR, "Invisible watermark: FOUND", 60, since).params["text"]


def test_ten_users_at_once_and_help_stays_fast(bot, fake, demo_selfie_bytes):
    users = list(range(201, 211))
    for user in users:
        bot.consent(user)
    since = fake.mark()
    for user in users:
        fake.send_photo(user, demo_selfie_bytes, caption="demo")
    time.sleep(2.0)  # renders are now running and queued
    asked = time.monotonic()
    fake.send_text(299, "/help")
    answer = fake.wait_text(299, "/delete", 20, since)
    latency = answer.at - asked
    log.warning("/help answered in %.3f s while 10 renders were queued or running", latency)
    print(f"/help latency with 10 renders in flight: {latency:.3f} s")
    for user in users:
        fake.wait_for(lambda c, u=user: c.method == "sendVideo" and c.params["chat_id"] == str(u), 240, since)


def test_429_and_502_do_not_lose_the_clip(bot, fake, demo_selfie_bytes, tmp_path):
    user = 171
    bot.consent(user)
    fake.fail_next("sendVideo", 429, 502)
    video = render(fake, user, demo_selfie_bytes)
    assert probe_bytes(tmp_path, video_of(video)).frames == 125


def test_restart_with_a_queued_job(lone_fake, tmp_path, demo_selfie_bytes):
    fake = lone_fake
    b = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
    user = 181
    try:
        b.consent(user)
    finally:
        assert b.stop() == 0  # SIGTERM is a clean shutdown
    # Queue a job while the bot is down, as if it had been accepted just before a crash.
    from zaobot import storage

    from tests.storage_helpers import make_settings

    st = storage.open_store(make_settings(tmp_path / "data"))
    u = storage.find_user(st, "telegram", str(user))
    sid = storage.add_selfie(st, u["id"], demo_selfie_bytes)
    job = storage.create_job(st, u["id"], "demo", selfie_id=sid, chat_id=str(user), platform="telegram",
                             language="en")
    interrupted = storage.create_job(st, u["id"], "demo", selfie_id=sid, chat_id=str(user), platform="telegram",
                                     language="en")
    st.db["jobs"].update(interrupted["id"], {"status": "running", "attempts": 2})
    st.close()
    since = fake.mark()
    b.start()
    try:
        fake.wait_for(lambda c: c.method == "sendVideo" and job["id"] in c.params.get("caption", ""), 120, since)
        fake.wait_text(user, "render failed", 30, since)  # interrupted twice: failed, and the user is told
        assert b.rows("SELECT status FROM jobs WHERE id = ?", interrupted["id"])[0]["status"] == "failed"
    finally:
        b.stop()


def test_a_press_is_acted_on_even_when_its_acknowledgement_fails(bot, fake):
    """answerCallbackQuery failing (an expired query, a network blip) must not drop a consent or delete press."""
    user = 172
    since = fake.mark()
    fake.fail_next("answerCallbackQuery", 400)
    fake.press(user, "consent:yes")
    fake.wait_text(user, "Now send me a selfie", 20, since)
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user))
    since = fake.mark()
    fake.send_text(user, "/delete")
    fake.wait_text(user, "Are you sure", 20, since)
    fake.fail_next("answerCallbackQuery", 500)
    fake.press(user, "delete:yes")
    fake.wait_text(user, "Everything about you is deleted", 30, since)
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", str(user)) == []


def test_kill_9_while_the_clip_uploads_still_delivers_exactly_one_clip(lone_fake, tmp_path, demo_selfie_bytes):
    """The clip is rendered and stored; the process dies in the middle of sendVideo. After a restart
    the job is still 'rendered' and its clip goes out once."""
    fake = lone_fake
    own = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
    user = 181
    try:
        since = selfie_stuck_at(fake, own, user, "sendVideo", demo_selfie_bytes, "demo", 120)
        [job] = own.rows("SELECT * FROM jobs")
        assert job["status"] == "rendered" and job["output_file"]
        workers = own.children()
        assert workers  # the render pool
        own.proc.kill()  # kill -9 in the middle of the upload
        own.proc.wait(10)
        fake.release_held()
        # Its render workers do not outlive it (each holds an engine, about 400 MB).
        deadline = time.time() + 10
        while time.time() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(alive(pid) for pid in workers)
        scratch = tmp_path / "data" / "tmp"
        left = [p for p in scratch.iterdir() if p.is_file()]
        assert left and all(job["id"] in p.name for p in left)  # the decrypted upload, left by the crash
        assert (scratch.stat().st_mode & 0o777) == 0o700 and all((p.stat().st_mode & 0o777) == 0o600 for p in left)

        restarted = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
        try:
            sent = fake.wait_for(lambda c: c.method == "sendVideo" and str(c.params["chat_id"]) == str(user),
                                 60, since)
            assert job["id"] in sent.params["caption"]
            deadline = time.time() + 30
            while time.time() < deadline and restarted.rows("SELECT status FROM jobs")[0]["status"] != "done":
                time.sleep(0.2)
            assert restarted.rows("SELECT status FROM jobs")[0]["status"] == "done"
            time.sleep(3)  # nothing else goes out
            videos = [c for c in fake.calls[since:]
                      if c.method == "sendVideo" and str(c.params["chat_id"]) == str(user)]
            assert len(videos) == 1
            # Start-up removed the leftover (a warm-up render of the new process may be writing its own).
            assert [p for p in scratch.iterdir() if job["id"] in p.name] == []
        finally:
            restarted.stop()
    finally:
        if own.proc.poll() is None:
            own.stop()


def test_sigterm_while_a_selfie_is_handled_finishes_it_or_leaves_it_unacknowledged(lone_fake, tmp_path,
                                                                                    demo_selfie_bytes):
    """SIGTERM arrives while a selfie's file is being downloaded: the user gets the answer, either from
    this process before it exits or from the next one, never nothing."""
    import signal

    fake = lone_fake
    own = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
    user = 191
    try:
        # No caption: the answer is the scene buttons.
        since = selfie_stuck_at(fake, own, user, "getFile", demo_selfie_bytes, None, 30)
        own.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        fake.release_held()  # that download fails (503); PTB's retry or the next process must cope
        code = own.proc.wait(60)
        assert code == 0
        answered = [c for c in fake.calls[since:]
                    if c.method == "sendMessage" and str(c.params["chat_id"]) == str(user)]
        if not answered:
            restarted = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
            try:
                fake.wait_text(user, "Got your selfie", 60, since)
            finally:
                restarted.stop()
        else:
            assert any("Got your selfie" in str(c.params.get("text", "")) for c in answered)
    finally:
        if own.proc.poll() is None:
            own.proc.kill()


def test_an_update_whose_handling_fails_gets_an_apology_not_silence(bot, fake, demo_selfie_bytes):
    user = 192
    bot.consent(user)
    since = fake.mark()
    fake.fail_next("getFile", 400, 400, 400, 400)  # the photo can't be fetched (after retries): the handler raises
    fake.send_photo(user, demo_selfie_bytes, caption="demo")
    fake.wait_text(user, "your last message was not handled", 30, since)
    assert bot.rows("SELECT * FROM jobs j JOIN users u ON u.id = j.user_id WHERE u.platform_user_id = ?",
                    str(user)) == []


def test_verbose_logging_never_writes_the_bot_token(lone_fake, tmp_path):
    fake = lone_fake
    verbose = Bot(fake, tmp_path / "data", tmp_path / "serve.log")
    verbose.args = ["-v"]
    try:
        verbose.start()
        since = fake.mark()
        fake.send_text(211, "/help")
        fake.wait_text(211, "selfie", 30, since)
    finally:
        verbose.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "DEBUG" in log  # debug logging was on (the scrubber itself: tests/test_cli.py)
    assert TOKEN not in log and TOKEN.split(":")[1] not in log


def test_kill_9_while_a_selfie_is_handled_answers_it_after_the_restart(lone_fake, tmp_path, demo_selfie_bytes):
    """Telegram counts the update as delivered at the next poll; the bot holds it until it has
    answered, so a kill -9 in mid-handling is answered by the next process."""
    fake = lone_fake
    own = Bot(fake, tmp_path / "data", tmp_path / "serve.log").start()
    user = 221
    try:
        since = selfie_stuck_at(fake, own, user, "getFile", demo_selfie_bytes, None, 30)
        time.sleep(2.5)  # the next polls have acknowledged the update to Telegram by now
        own.proc.kill()
        own.proc.wait(10)
        fake.release_held()
        assert not any(c.method == "sendMessage" and str(c.params["chat_id"]) == str(user) for c in fake.calls[since:])
        own.start()
        fake.wait_text(user, "Got your selfie", 60, since)
        # The hold is released right after the reply went out, on the storage thread: allow it a moment.
        deadline = time.monotonic() + 10
        while own.rows("SELECT COUNT(*) AS n FROM inbox")[0]["n"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert own.rows("SELECT COUNT(*) AS n FROM inbox")[0]["n"] == 0  # answered, so no longer held
    finally:
        own.stop()
