"""Start the real `zaobot serve` against the fake Bot API server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.fake_telegram import TOKEN, FakeTelegram
from tests.storage_helpers import SECRET

MODERATOR = 9001


class Bot:
    def __init__(self, fake: FakeTelegram, data_dir: Path, log: Path, **env: str) -> None:
        self.fake = fake
        self.data_dir = data_dir
        self.log = log
        self.env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.api_url,
                    "TELEGRAM_FILE_BASE_URL": fake.file_url, "ZAOBOT_DATA_DIR": str(data_dir),
                    "ZAOBOT_SECRET_KEY": SECRET, "TELEGRAM_MODERATOR_IDS": str(MODERATOR), "ZAOBOT_ENGINE": "mesh",
                    "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen | None = None
        self.args: list[str] = []  # extra `zaobot serve` arguments, e.g. ["-v"]

    def start(self) -> Bot:
        since = self.fake.mark()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "zaobot", "serve", *self.args], env=self.env,
                                         stdout=log,
                                         stderr=subprocess.STDOUT)
        self.fake.wait_for(lambda c: c.method == "getUpdates", 60, since)
        return self

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.data_dir / 'zaobot.sqlite3'}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with self.db() as conn:
            return list(conn.execute(sql, params))

    def consent(self, user_id: int, lang: str = "en") -> None:
        since = self.fake.mark()
        self.fake.press(user_id, "consent:yes", lang)
        needle = "Now send me a selfie" if lang == "en" else "现在请发送"
        self.fake.wait_text(user_id, needle, 20, since)
