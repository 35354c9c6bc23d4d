"""Start the real `zaobot serve` against the fake Bot API server."""

from __future__ import annotations

from pathlib import Path

from tests.fake_telegram import TOKEN, FakeTelegram, _free_port
from tests.serve_harness import ServeProcess

MODERATOR = 9001


class Bot(ServeProcess):
    def __init__(self, fake: FakeTelegram, data_dir: Path, log: Path, **env: str) -> None:
        # With moderators the console is on, so the bot listens for HTTP: each on a port of its own.
        self.http_port = int(env.pop("ZAOBOT_HTTP_PORT", _free_port()))
        super().__init__(data_dir, log, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.api_url,
                                         "TELEGRAM_FILE_BASE_URL": fake.file_url,
                                         "TELEGRAM_MODERATOR_IDS": str(MODERATOR),
                                         "ZAOBOT_HTTP_HOST": "127.0.0.1", "ZAOBOT_HTTP_PORT": str(self.http_port),
                                         **env})
        self.fake = fake

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Bot:
        """Up once it polls the fake Bot API for updates."""
        since = self.fake.mark()
        self.launch()
        self.fake.wait_for(lambda c: c.method == "getUpdates", 60, since)
        return self

    def consent(self, user_id: int, lang: str = "en") -> None:
        since = self.fake.mark()
        self.fake.press(user_id, "consent:yes", lang)
        needle = "Now send me a selfie" if lang == "en" else "现在请发送"
        self.fake.wait_text(user_id, needle, 20, since)
