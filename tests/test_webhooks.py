"""The Telegram webhook endpoint as the shared Starlette app serves it: authenticated, capped, strict."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from types import SimpleNamespace

from pydantic import SecretStr
from starlette.testclient import TestClient

from zaobot.app import web_app
from zaobot.config import Settings

SECRET = "s3cret-webhook-token"


def client_and_queue() -> tuple[TestClient, asyncio.Queue]:
    queue: asyncio.Queue = asyncio.Queue()
    telegram_app = SimpleNamespace(bot=None, update_queue=queue)
    settings = Settings(telegram_webhook_secret=SecretStr(SECRET))
    return TestClient(web_app(settings, telegram_app)), queue


def post(client: TestClient, body: bytes, secret: str = SECRET):
    return client.post("/telegram/webhook", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": secret,
                                                                   "Content-Type": "application/json"})


def test_a_valid_update_is_queued_and_bad_ones_get_clear_statuses():
    client, queue = client_and_queue()
    ok = post(client, b'{"update_id": 7, "message": {"message_id": 1, "date": 0, '
                      b'"chat": {"id": 5, "type": "private"}}}')
    assert ok.status_code == 200 and queue.qsize() == 1
    assert queue.get_nowait().update_id == 7
    assert post(client, b'{"update_id": 8}', secret="wrong").status_code == 403
    for malformed in (b"{not json", b"", b"[1, 2]", b'"text"', b"null"):
        r = post(client, malformed)
        assert r.status_code == 400, (malformed, r.status_code, r.text)
    assert post(client, b'{"update_id": 9, "pad": "' + b"x" * (2 << 20) + b'"}').status_code == 413
    assert queue.qsize() == 0  # nothing malformed, oversized or forged reached the bot


def test_serve_refuses_a_webhook_without_a_secret(tmp_path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_URL": "https://bot.example/telegram/webhook",
           "ZAOBOT_DATA_DIR": str(tmp_path), "ZAOBOT_SECRET_KEY": "k" * 40}
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    done = subprocess.run([sys.executable, "-m", "zaobot", "serve"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in done.stderr and "123:abc" not in done.stderr + done.stdout


def test_serve_refuses_a_damaged_database_with_a_clear_message(tmp_path):
    from zaobot import storage

    from tests.storage_helpers import SECRET as STORE_SECRET
    from tests.storage_helpers import make_settings

    st = storage.open_store(make_settings(tmp_path / "data"))
    for i in range(300):  # enough rows for several pages
        storage.audit(st, "render", job_id=f"{i:032x}", detail={"pad": "x" * 200})
    st.close()
    db = tmp_path / "data" / "zaobot.sqlite3"
    raw = bytearray(db.read_bytes())
    last = len(raw) // 4096 - 3  # a page of the audit table, well past the file header
    for offset in range(last * 4096 + 100, last * 4096 + 900):  # scribble over it
        raw[offset] = 0xA5
    db.write_bytes(bytes(raw))
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc", "ZAOBOT_DATA_DIR": str(tmp_path / "data"),
           "ZAOBOT_SECRET_KEY": STORE_SECRET}
    done = subprocess.run([sys.executable, "-m", "zaobot", "serve"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "is damaged" in done.stderr and "backup" in done.stderr
