"""The real `zaobot serve` process as a WeChat Official Account, against a fake WeChat API server."""

from __future__ import annotations

import base64
import os
import sqlite3
import time

import httpx
import pytest

from tests.fake_wechat import APP_SECRET, FakeWeChat, WeChatClient
from tests.wechat_harness import LIMIT, MODERATOR, WeChatBot, consent, openid


@pytest.fixture(scope="module")
def fake():
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot(fake, tmp_path_factory):
    b = WeChatBot(fake, tmp_path_factory.mktemp("wechat")).start()
    yield b
    b.stop()
    log = b.log.read_text()
    assert APP_SECRET not in log and "ACCESS" not in log, "secrets leaked into the logs"


@pytest.fixture(scope="module")
def client(bot):
    return WeChatClient(bot.url)


AES_KEY = base64.b64encode(b"zaobot-test-aes-key-32-bytes!!!!").decode().rstrip("=")


@pytest.fixture(scope="module")
def aes_bot(fake, tmp_path_factory):
    """Safe (AES) mode, the only mode in which moderator commands are accepted."""
    b = WeChatBot(fake, tmp_path_factory.mktemp("wechat-aes"), WECHAT_AES_KEY=AES_KEY).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def aes_client(aes_bot):
    return WeChatClient(aes_bot.url, aes_key=AES_KEY)


def test_url_verification(client):
    ok = client.verify("echo-42")
    assert ok.status_code == 200 and ok.text == "echo-42"
    assert client.verify("echo-42", token="wrong").status_code == 403


def test_forged_and_stale_messages_are_rejected(bot, client):
    user = openid(1)
    assert client.event(user, "subscribe").status_code == 200
    assert client.text(user, "同意", forge=True).status_code == 403
    assert client.text(user, "同意", timestamp=int(time.time()) - 3600).status_code == 403
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", user) == []


def test_consent_image_keyword_video_delivered(bot, client, fake, demo_selfie_bytes, tmp_path):
    from zaobot.media.video import probe

    user = openid(2)
    media = fake.add_media(demo_selfie_bytes)
    before_consent = client.image(user, media)
    assert "同意" in client.reply_text(before_consent)  # consent first; the image isn't fetched or kept
    consent(client, user)
    pick = client.reply_text(client.image(user, media))
    assert "请选择场景" in pick and "demo" in pick
    since = fake.mark()
    queued = client.reply_text(client.text(user, "DEMO"))
    assert "已排队" in queued and "秒" in queued
    sent = fake.wait_sent(user, "video", timeout=90, since=since)
    data = fake.uploads[sent.body["media_id"]]
    assert len(data) <= LIMIT  # re-encoded under the platform limit
    path = tmp_path / "wx.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert (info.video_codec, info.audio_codec, info.frames) == ("h264", "aac", 125)
    assert sent.body["title"] == "AI生成 · AI-generated"
    job = bot.rows("SELECT * FROM jobs WHERE platform = 'wechat' AND chat_id = ?", user)[0]
    assert job["status"] == "done" and job["id"] in sent.body["description"]


def test_replayed_msgid_renders_once(bot, client, fake, demo_selfie_bytes):
    user = openid(3)
    consent(client, user)
    client.image(user, fake.add_media(demo_selfie_bytes))
    since = fake.mark()
    first = client.text(user, "demo", msg_id=777001)
    retries = [client.text(user, "demo", msg_id=777001) for _ in range(3)]
    assert "已排队" in client.reply_text(first)
    assert all(r.status_code == 200 and r.text == "success" for r in retries)
    fake.wait_sent(user, "video", timeout=90, since=since)
    uid = bot.rows("SELECT id FROM users WHERE platform_user_id = ?", user)[0]["id"]
    assert len(bot.rows("SELECT * FROM jobs WHERE user_id = ?", uid)) == 1


def test_expired_token_is_refreshed(bot, client, fake, demo_selfie_bytes):
    user = openid(4)
    consent(client, user)
    client.image(user, fake.add_media(demo_selfie_bytes))
    calls = fake.token_calls
    fake.expire_token()
    since = fake.mark()
    client.text(user, "demo")
    fake.wait_sent(user, "video", timeout=90, since=since)
    assert fake.token_calls == calls + 1


def test_45015_is_recorded_and_not_retried(bot, client, fake, demo_selfie_bytes):
    user = openid(5)
    consent(client, user)
    client.image(user, fake.add_media(demo_selfie_bytes))
    uploads = len(fake.uploads)
    fake.fail_next("custom/send", 45015)
    client.text(user, "demo")
    uid = bot.rows("SELECT id FROM users WHERE platform_user_id = ?", user)[0]["id"]
    deadline = time.time() + 90
    while time.time() < deadline:
        job = bot.rows("SELECT * FROM jobs WHERE user_id = ?", uid)[0]
        if job["error"]:
            break
        time.sleep(0.2)
    assert "45015" in job["error"]
    time.sleep(3)
    assert len(fake.uploads) == uploads + 1  # one attempt, no retries
    assert not any(s.touser == user and s.msgtype == "video" for s in fake.sent)


def test_picurl_fallback_and_delivery_retry(bot, client, fake, demo_selfie_bytes, tmp_path):
    user = openid(8)
    consent(client, user)
    media = fake.add_media(demo_selfie_bytes)
    fake.fail_next("media/get", 40007)  # media/get fails: the image is fetched from its PicUrl instead
    pick = client.reply_text(client.image(user, media, pic_url=f"{fake.base_url}/pic/{media}"))
    assert "请选择场景" in pick
    fake.fail_next("custom/send", -1)  # "system busy" on the first delivery: retried with backoff
    since = fake.mark()
    client.text(user, "demo")
    sent = fake.wait_sent(user, "video", timeout=90, since=since)
    assert sent.body["media_id"] in fake.uploads


def test_moderator_verifies_a_clip_by_sending_it(aes_bot, aes_client, fake, demo_selfie_bytes):
    bot, client = aes_bot, aes_client
    user = openid(9)
    consent(client, user)
    client.image(user, fake.add_media(demo_selfie_bytes))
    since = fake.mark()
    client.text(user, "demo")
    sent = fake.wait_sent(user, "video", timeout=90, since=since)
    clip = fake.add_media(fake.uploads[sent.body["media_id"]])
    answer = client.reply_text(client.video(user, clip))  # users get help, not a verification
    assert "/delete" in answer and "Invisible watermark" not in answer
    client.event(MODERATOR, "subscribe")
    since = fake.mark()
    response = client.video(MODERATOR, clip)
    report = client.reply_text(response)
    if not report:  # took longer than the passive-reply budget: it follows as a customer-service message
        report = fake.wait_sent(MODERATOR, "text", "Invisible watermark", timeout=60, since=since).body["content"]
    job = bot.rows("SELECT id, watermark_id FROM jobs WHERE chat_id = ?", user)[0]
    assert "FOUND" in report and job["watermark_id"] in report and job["id"] in report


def test_delete_flow_purges_storage(bot, client, fake, demo_selfie_bytes):
    user = openid(6)
    consent(client, user)
    client.image(user, fake.add_media(demo_selfie_bytes))
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", user)
    assert "确定吗" in client.reply_text(client.text(user, "删除"))
    receipt = client.reply_text(client.text(user, "确认删除"))
    assert "已删除" in receipt and "自拍 1 张" in receipt
    assert bot.rows("SELECT * FROM users WHERE platform_user_id = ?", user) == []
    conn = sqlite3.connect(bot.data_dir / "zaobot.sqlite3")
    for table in ("users", "consents", "selfies", "jobs", "reports", "bans", "deletions"):
        for row in conn.execute(f"SELECT * FROM {table}"):
            assert user not in [str(v) for v in row]
    conn.close()


def test_moderator_commands_and_unsubscribe(aes_bot, aes_client):
    bot, client = aes_bot, aes_client
    user = openid(7)
    consent(client, user)
    assert "不认识这个命令" in client.reply_text(client.text(user, "/stats"))
    client.event(MODERATOR, "subscribe")
    assert "jobs_done" in client.reply_text(client.text(MODERATOR, "/stats"))
    assert "ban" in client.reply_text(client.text(MODERATOR, f"/ban {user} spam"))
    assert "禁止" in client.reply_text(client.text(user, "demo"))
    client.text(MODERATOR, f"/unban {user}")
    assert client.event(user, "unsubscribe").text == "success"
    consents = bot.rows("SELECT c.revoked_at FROM consents c JOIN users u ON u.id = c.user_id "
                        "WHERE u.platform_user_id = ?", user)
    assert consents and all(c["revoked_at"] for c in consents)


def test_every_post_answered_fast_with_ten_renders_queued(bot, client, fake, demo_selfie_bytes):
    users = [openid(100 + i) for i in range(10)]
    media = fake.add_media(demo_selfie_bytes)
    latencies = []
    for user in users:
        consent(client, user)
        client.image(user, media)
    since = fake.mark()
    for user in users:
        start = time.monotonic()
        response = client.text(user, "demo")
        latencies.append(time.monotonic() - start)
        assert response.status_code == 200
    start = time.monotonic()
    client.text(openid(199), "帮助")
    latencies.append(time.monotonic() - start)
    print(f"WeChat POST latency with 10 renders queued: max {max(latencies):.3f} s, "
          f"mean {sum(latencies) / len(latencies):.3f} s")
    assert max(latencies) < 5.0  # WeChat's own deadline: past it, it retries the message
    for user in users:
        fake.wait_sent(user, "video", timeout=240, since=since)


def test_aes_safe_mode_both_directions(fake, tmp_path, demo_selfie_bytes):
    aes_key = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    bot = WeChatBot(fake, tmp_path, WECHAT_AES_KEY=aes_key).start()
    try:
        client = WeChatClient(bot.url, aes_key=aes_key)
        user = openid(300)
        response = client.event(user, "subscribe")
        assert "<Encrypt>" in response.text and "同意" not in response.text
        assert "同意" in client.reply_text(response)
        assert "现在请发送" in client.reply_text(client.text(user, "同意"))
        plain = WeChatClient(bot.url)  # unencrypted posts are not accepted in AES mode
        assert plain.text(user, "帮助").status_code == 403
        since = fake.mark()
        client.image(user, fake.add_media(demo_selfie_bytes))
        client.text(user, "demo")
        fake.wait_sent(user, "video", timeout=90, since=since)
    finally:
        bot.stop()


def _peak_rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _signed_params(client, **extra: str) -> dict[str, str]:
    ts, nonce = str(int(time.time())), f"nonce{time.time_ns()}"
    return {"signature": client.sign(ts, nonce), "timestamp": ts, "nonce": nonce, **extra}


def test_oversized_and_unsigned_bodies_are_refused_without_being_read(bot, client):
    """Unsigned posts are refused on the query string alone; signed ones are capped at 1 MiB (413)."""
    big = b"<xml>" + b"x" * (64 << 20)
    before = _peak_rss_kb(bot.proc.pid)
    for _ in range(3):
        try:
            r = httpx.post(bot.url, params={"signature": "0" * 40, "timestamp": str(int(time.time())),
                                            "nonce": "n"}, content=big, timeout=30)
            assert r.status_code == 403
        except httpx.HTTPError:
            pass  # the server answered 403 and closed before the upload finished: also a refusal
    grown_mb = (_peak_rss_kb(bot.proc.pid) - before) / 1024
    assert grown_mb < 32, f"peak RSS grew by {grown_mb:.0f} MB on unsigned posts"

    def chunks():
        for _ in range(4):
            yield b"y" * (1 << 20)

    try:
        r = httpx.post(bot.url, params=_signed_params(client), content=chunks(), timeout=30)  # no Content-Length
        assert r.status_code == 413
    except httpx.HTTPError:
        pass
    declared = httpx.post(bot.url, params=_signed_params(client), content=b"z" * (2 << 20), timeout=30)
    assert declared.status_code == 413
    assert bot.proc.poll() is None  # still serving


def test_signed_but_empty_or_senderless_bodies_get_400_and_create_nobody(bot, client):
    empty = httpx.post(bot.url, params=_signed_params(client), content=b"", timeout=30)
    assert empty.status_code == 400
    garbage = httpx.post(bot.url, params=_signed_params(client), content=b"<xml><broken", timeout=30)
    assert garbage.status_code == 400
    senderless = (b"<xml><ToUserName>gh_zaobot</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
                  b"<Content>hello</Content><MsgId>77</MsgId></xml>")
    r = httpx.post(bot.url, params=_signed_params(client), content=senderless, timeout=30)
    assert r.status_code == 400
    assert bot.rows("SELECT * FROM users WHERE platform_user_id IN ('None', '')") == []
    assert client.event(openid(90), "subscribe").status_code == 200  # and the webhook still works


def test_plain_mode_refuses_moderator_commands_and_replayed_signatures(bot, client):
    """Plain mode signs only the query string: a captured signature must not carry a forged body twice,
    and no message in plain mode is trusted to come from a moderator."""
    client.event(MODERATOR, "subscribe")
    assert "jobs_done" not in client.reply_text(client.text(MODERATOR, "/stats"))
    assert "不认识这个命令" in client.reply_text(client.text(MODERATOR, "/stats"))
    victim = openid(95)
    consent(client, victim)
    first = client.text(victim, "帮助")
    assert first.status_code == 200 and client.reply_text(first)
    ts, nonce = client._last
    forged = client._xml(MODERATOR, {"MsgType": "text", "Content": f"/ban {victim} replay"}, 424242)
    replay = httpx.post(bot.url, params={"signature": client.sign(ts, nonce), "timestamp": ts, "nonce": nonce},
                        content=forged.encode(), timeout=30)
    assert replay.status_code == 200 and replay.text == "success"  # answered, and ignored
    assert bot.rows("SELECT * FROM bans") == []


def test_a_retried_msgid_is_recognised_after_a_restart(fake, tmp_path, demo_selfie_bytes):
    b = WeChatBot(fake, tmp_path).start()
    try:
        c = WeChatClient(b.url)
        user = openid(96)
        consent(c, user)
        c.image(user, fake.add_media(demo_selfie_bytes))
        c.text(user, "demo", msg_id=777_001)
        b.stop()
        b.start()
        retried = c.text(user, "demo", msg_id=777_001)  # WeChat retries the same MsgId after the restart
        assert retried.text == "success"
        assert len(b.rows("SELECT * FROM jobs")) == 1
    finally:
        b.stop()


def test_picurl_fallback_fetches_only_wechat_hosts_and_caps_the_size(bot, client, fake, demo_selfie_bytes):
    from zaobot.handlers.wechat import picture_url_allowed

    api = "https://api.weixin.qq.com"
    assert picture_url_allowed("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", api)
    assert not picture_url_allowed("http://169.254.169.254/latest/meta-data", api)
    assert not picture_url_allowed("http://qpic.cn.evil.example/x.jpg", api)
    assert not picture_url_allowed("file:///etc/passwd", api)

    user = openid(97)
    consent(client, user)
    # An unknown media_id makes media/get fail (40007), so the PicUrl fallback is what is tried.
    elsewhere = client.reply_text(client.image(user, "MISSING-1", pic_url="http://127.0.0.2:9/pic.jpg"))
    assert "请重新发送" in elsewhere  # not fetched from a stranger's host: the user is asked to resend
    big = fake.add_media(b"\xff\xd8\xff" + b"0" * (21 * 1024 * 1024))
    too_big = client.reply_text(client.image(user, "MISSING-2", pic_url=f"{fake.base_url}/pic/{big}"))
    assert "过大" in too_big
    assert bot.rows("SELECT s.* FROM selfies s JOIN users u ON u.id = s.user_id WHERE u.platform_user_id = ?",
                    user) == []
