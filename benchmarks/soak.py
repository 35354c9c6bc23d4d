"""Soak: many users at once against the real `zaobot serve`, then kill -9 and a restart.

Usage: python benchmarks/soak.py [--users 200] [--minutes 2] [--rate 4]

The real `zaobot serve` (mesh engine, 1 worker) runs behind the fake Bot API server of the tests.
Every user agrees first; then, for `--minutes`, random users do random things at about `--rate`
actions a second: /help, a selfie with the caption "demo", /delete and its confirmation. Then
the bot is killed with SIGKILL in the middle of that traffic, restarted, and left to drain its
queue. It prints, and checks:
* no update lost: every action was answered (by the first process or, for updates it had not
  acknowledged, by the second);
* no clip duplicated: no job id is in the caption of two sendVideo calls;
* no plaintext media left: `$ZAOBOT_DATA_DIR/tmp` is empty once the queue is drained, and every
  encrypted file on disk belongs to a row;
* RSS bounded: the bot's process tree (serve + render worker), sampled every 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.drain import sent_clips, wait_drained  # noqa: E402
from benchmarks.proctree import process_tree  # noqa: E402
from zaobot.config import BUNDLED_ASSETS_DIR  # noqa: E402

from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import Bot  # noqa: E402

FIRST_USER = 700_000
ANSWERS = ("sendMessage", "sendVideo", "editMessageText", "sendDocument")


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and its descendants, MB, from /proc."""
    total = 0
    for pid in process_tree(root):
        try:
            total += int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                              if line.startswith("VmRSS:")).split()[1])
        except (OSError, StopIteration):
            continue
    return total / 1024


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pid: int | None = None
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            if self.pid:
                self.samples.append((time.monotonic() - start, tree_rss_mb(self.pid)))
            self.stop.wait(2.0)


def answered_after(fake: FakeTelegram, user: int, at: float) -> bool:
    with fake._lock:  # noqa: SLF001 - the fake's own call log
        calls = list(fake.calls)
    return any(c.method in ANSWERS and str(c.params.get("chat_id")) == str(user) and c.at >= at for c in calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=4.0, help="actions a second, all users together")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    selfie = (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes()
    fake = FakeTelegram().start()
    sampler = Sampler()
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="zaobot-soak-") as tmp:
        data = Path(tmp) / "data"
        bot = Bot(fake, data, Path(tmp) / "serve.log", ZAOBOT_MAX_QUEUE="30", ZAOBOT_LIVENESS="off").start()
        assert bot.proc is not None
        sampler.pid = bot.proc.pid
        users = [FIRST_USER + i for i in range(args.users)]
        actions: list[tuple[int, str, float]] = []  # (user, what, when)
        for user in users:
            fake.press(user, "consent:yes")
            actions.append((user, "agree", time.monotonic()))
        end = time.monotonic() + 60 * args.minutes
        kill_at = end - 10  # SIGKILL while traffic is still coming in
        killed_at = None
        while time.monotonic() < end:
            if killed_at is None and time.monotonic() >= kill_at:
                bot.proc.kill()
                bot.proc.wait(10)
                killed_at = time.monotonic()
                print(f"killed with SIGKILL after {len(actions)} actions", flush=True)
                bot = Bot(fake, data, Path(tmp) / "serve.log", ZAOBOT_MAX_QUEUE="30", ZAOBOT_LIVENESS="off").start()
                assert bot.proc is not None
                sampler.pid = bot.proc.pid
            user = rng.choice(users)
            what = rng.choices(["help", "selfie", "delete"], weights=[5, 4, 1])[0]
            now = time.monotonic()
            if what == "help":
                fake.send_text(user, "/help")
            elif what == "selfie":
                fake.send_photo(user, selfie, caption="demo")
            else:
                fake.send_text(user, "/delete")
                fake.press(user, "delete:yes")
                fake.press(user, "consent:yes")  # and back again, so the user keeps playing
            actions.append((user, what, now))
            time.sleep(rng.expovariate(args.rate))
        print(f"{len(actions)} actions sent; draining the queue", flush=True)

        db = data / "zaobot.sqlite3"
        wait_drained(db, 600)
        time.sleep(5)  # the last answers and status edits

        last_action: dict[int, float] = {}
        for user, _, at in actions:
            last_action[user] = max(at, last_action.get(user, 0.0))
        unanswered = [u for u, at in last_action.items() if not answered_after(fake, u, at)]
        clips, duplicated = sent_clips(fake)
        scratch = [p.name for p in (data / "tmp").iterdir()] if (data / "tmp").is_dir() else []
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            referenced = {r[0] for r in conn.execute("SELECT file FROM selfies")}
            referenced |= {r[0] for r in conn.execute("SELECT output_file FROM jobs WHERE output_file IS NOT NULL")}
            statuses = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        on_disk = {f"{kind}/{p.name}" for kind in ("selfies", "outputs")
                   for p in (data / "media" / kind).glob("*") if not p.name.startswith(".")}
        bot.stop()
        fake.stop()
        sampler.stop.set()

    kinds = Counter(what for _, what, _ in actions)
    rss = [mb for _, mb in sampler.samples]
    print(f"machine: {os.cpu_count()} CPUs; {args.users} users, {args.minutes:g} min at ~{args.rate:g} actions/s")
    killed = f"at {round(killed_at - actions[0][2])} s" if killed_at else "never"
    print(f"actions: {dict(kinds)}; SIGKILL {killed}")
    print(f"clips sent: {clips}; jobs by status at the end: {statuses}")
    print(f"users whose last action got no answer: {len(unanswered)} {unanswered[:10]}")
    print(f"job ids sent more than once: {len(duplicated)} {list(duplicated.items())[:5]}")
    print(f"plaintext files left in $ZAOBOT_DATA_DIR/tmp: {len(scratch)} {scratch[:5]}")
    print(f"encrypted files without a row: {len(on_disk - referenced)}; "
          f"rows without a file: {len(referenced - on_disk)}")
    if rss:
        third = max(1, len(rss) // 3)
        print(f"RSS of serve + worker: median {statistics.median(rss):.0f} MB, max {max(rss):.0f} MB; "
              f"first third median {statistics.median(rss[:third]):.0f} MB, "
              f"last third {statistics.median(rss[-third:]):.0f} MB")
    ok = not unanswered and not duplicated and not scratch and not (on_disk - referenced)
    print("verdict:", "OK" if ok else "PROBLEMS (see above)")
    per_user = defaultdict(int)
    for user, _, _ in actions:
        per_user[user] += 1
    print(f"actions per user: median {statistics.median(per_user.values()):.0f}, max {max(per_user.values())}")


if __name__ == "__main__":
    main()
