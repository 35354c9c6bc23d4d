"""What the soak and load benchmarks both check at the end: the queue drained, no clip sent twice."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

from tests.fake_telegram import FakeTelegram


def wait_drained(db: Path, timeout: float) -> bool:
    """Wait until no job is queued, running or rendered-but-unsent (read-only); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            busy = conn.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running', 'rendered')"
                                ).fetchone()[0]
        if not busy:
            return True
        time.sleep(2)
    return False


def sent_clips(fake: FakeTelegram) -> tuple[int, dict[str, int]]:
    """(clips sent, {job id: times} for every job id in the caption of more than one sendVideo)."""
    with fake._lock:  # noqa: SLF001 - the fake's own call log
        videos = [c for c in fake.calls if c.method == "sendVideo"]
    per_job = Counter(c.params["caption"].rsplit("Job ", 1)[1].strip() for c in videos)
    return len(videos), {job: n for job, n in per_job.items() if n > 1}
