"""Start the real `zaobot serve` with the WeChat webhook, against the fake WeChat API server."""

from __future__ import annotations

import time

import httpx

from tests.fake_telegram import _free_port
from tests.fake_wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat
from tests.serve_harness import ServeProcess

MODERATOR = "oMODERATOR0000000000000000001"
LIMIT = 250_000  # a lowered WeChat size limit, so that the demo clip (~430 KB) must be re-encoded


class WeChatBot(ServeProcess):
    def __init__(self, fake: FakeWeChat, tmp, **env: str) -> None:
        self.port = _free_port()
        super().__init__(tmp / "data", tmp / "serve.log", {
            "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET, "WECHAT_TOKEN": TOKEN,
            "WECHAT_API_BASE_URL": fake.base_url, "WECHAT_MODERATOR_OPENIDS": MODERATOR,
            "ZAOBOT_HTTP_HOST": "127.0.0.1", "ZAOBOT_HTTP_PORT": str(self.port),
            "ZAOBOT_MAX_OUTPUT_BYTES": str(LIMIT), "ZAOBOT_RENDERS_PER_HOUR": "50", **env})
        self.env.pop("TELEGRAM_BOT_TOKEN", None)
        self.url = f"http://127.0.0.1:{self.port}/wechat"

    def start(self) -> WeChatBot:
        """Up once its health check answers."""
        self.launch()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("serve did not come up: " + self.log.read_text()[-2000:])



def openid(n: int) -> str:
    return f"oUSER{n:024d}"


def consent(client, user: str) -> None:
    assert "同意" in client.reply_text(client.event(user, "subscribe"))
    assert "现在请发送" in client.reply_text(client.text(user, "同意"))
