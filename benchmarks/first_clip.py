"""First clip after start-up vs later ones, as a Telegram user sees them.

Usage: python benchmarks/first_clip.py [--rounds 2] [--settle 20] [--later 3]

Starts the real `zaobot serve` (mesh engine) against the fake Bot API server used by the
tests, waits until the bot answers, lets it settle for `--settle` seconds (the time a real
first user would take to arrive; 0 = a selfie sent the moment the bot answers), then sends
the demo selfie with the caption "demo" 1 + `--later` times, one after the other.

Each clip is timed from the moment the photo is handed to the fake server to the bot's
`sendVideo` call: polling, download, selfie check, queueing, render and upload, i.e. what the
user waits for.
The worker's own render time (the job's started_at -> finished_at) is printed beside it.
The goal: the first clip is at most 20% slower than the median of the later ones.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.proctree import process_tree  # noqa: E402
from zaobot.config import BUNDLED_ASSETS_DIR  # noqa: E402

from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import Bot  # noqa: E402

USER = 4242


def _tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by `root` and its descendants (the render workers), from /proc (Linux).

    Unlike wall time, this hardly moves when other programs compete for the CPUs, so it shows
    whether the first clip costs more work even on a busy machine."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum((int(f[11]) + int(f[12])) / tick for f in process_tree(root).values())  # utime + stime


def _render_seconds(bot: Bot, job_id: str) -> float:
    row = bot.rows("SELECT started_at, finished_at FROM jobs WHERE id = ?", job_id)[0]
    started, finished = (datetime.fromisoformat(row[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def one_round(selfie: bytes, settle: float, later: int,
              workers: int) -> tuple[list[float], list[float], list[float], list[str]]:
    """(user-seen seconds, worker render seconds and CPU seconds of the whole bot, per clip; warm-up log lines)."""
    fake = FakeTelegram().start()
    with tempfile.TemporaryDirectory(prefix="zaobot-bench-") as tmp:
        # The live check is off: this measures start-up and render, not the user recording a video.
        bot = Bot(fake, Path(tmp) / "data", Path(tmp) / "serve.log", ZAOBOT_RENDERS_PER_HOUR="1000",
                  ZAOBOT_WORKERS=str(workers), ZAOBOT_LIVENESS="off")
        started = time.monotonic()
        bot.start()
        print(f"  bot answering after {time.monotonic() - started:.1f} s", flush=True)
        try:
            bot.consent(USER)
            time.sleep(settle)
            print(f"  first selfie sent at {datetime.now():%H:%M:%S}", flush=True)
            seen: list[float] = []
            render: list[float] = []
            cpu: list[float] = []
            assert bot.proc is not None
            for _ in range(1 + later):
                since = fake.mark()
                cpu_before = _tree_cpu_seconds(bot.proc.pid)
                sent = time.monotonic()
                fake.send_photo(USER, selfie, caption="demo")
                video = fake.wait_for(lambda c: c.method == "sendVideo" and c.params["chat_id"] == str(USER), 300,
                                      since)
                job_id = video.params["caption"].rsplit("Job ", 1)[1].strip()
                seen.append(video.at - sent)
                cpu.append(_tree_cpu_seconds(bot.proc.pid) - cpu_before)
                render.append(_render_seconds(bot, job_id))
                print(f"  clip {len(seen)}: {seen[-1]:.2f} s seen by the user, {render[-1]:.2f} s rendering, "
                      f"{cpu[-1]:.2f} CPU s", flush=True)
        finally:
            bot.stop()
            fake.stop()
        warm = [line for line in bot.log.read_text().splitlines() if " warm in " in line]
    return seen, render, cpu, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="fresh `zaobot serve` processes to measure")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds between the bot answering and the "
                                                                     "first selfie")
    parser.add_argument("--later", type=int, default=3, help="clips after the first one")
    parser.add_argument("--workers", type=int, default=1, help="ZAOBOT_WORKERS")
    args = parser.parse_args()
    selfie = (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, settle {args.settle:g} s, "
          f"{args.workers} worker(s)")
    ratios = []
    for n in range(args.rounds):
        print(f"round {n + 1}:", flush=True)
        seen, render, cpu, warm = one_round(selfie, args.settle, args.later, args.workers)
        for line in warm or ["no warm-up logged"]:
            print(f"  {line}")
        ratio = {name: values[0] / statistics.median(values[1:])
                 for name, values in (("seen", seen), ("render", render), ("cpu", cpu))}
        ratios.append(ratio)
        print(f"  first {seen[0]:.2f} s, median of the next {args.later} {statistics.median(seen[1:]):.2f} s: "
              f"ratio {ratio['seen']:.2f} (render only {ratio['render']:.2f}, CPU {ratio['cpu']:.2f})", flush=True)
    print("first/later ratio per round (seen by the user): " + ", ".join(f"{r['seen']:.2f}" for r in ratios)
          + f"; median {statistics.median(r['seen'] for r in ratios):.2f}")
    print("first/later CPU ratio per round: " + ", ".join(f"{r['cpu']:.2f}" for r in ratios)
          + f"; median {statistics.median(r['cpu'] for r in ratios):.2f}")
    verdict = "OK" if statistics.median(r["seen"] for r in ratios) <= 1.2 else "over the 20% goal"
    print(f"goal (first clip at most 20% slower): {verdict}")


if __name__ == "__main__":
    main()
