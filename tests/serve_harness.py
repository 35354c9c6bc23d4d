"""The real `zaobot serve` as a subprocess, shared by the Telegram and WeChat end-to-end tests.

Each platform's harness says how the process is configured and how to tell it is up; starting,
stopping (SIGTERM, then kill) and reading the SQLite file are the same for both.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.storage_helpers import SECRET


class ServeProcess:
    """One `zaobot serve` with its own data dir and log file."""

    def __init__(self, data_dir: Path, log: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.log = log
        self.env = {**os.environ, "ZAOBOT_DATA_DIR": str(data_dir), "ZAOBOT_SECRET_KEY": SECRET,
                    "ZAOBOT_ENGINE": "mesh", "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen | None = None
        self.args: list[str] = []  # extra `zaobot serve` arguments, e.g. ["-v"]

    def launch(self) -> None:
        """Start the process (the platform harness then waits until it is up)."""
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "zaobot", "serve", *self.args], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> int:
        """SIGTERM, as an operator's service manager sends; killed if it does not exit in 30 s."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def children(self) -> list[int]:
        """The pids whose parent is this `zaobot serve` (its render workers), read from /proc."""
        assert self.proc is not None
        return children_of(self.proc.pid)

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.data_dir / 'zaobot.sqlite3'}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        conn = self.db()
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
