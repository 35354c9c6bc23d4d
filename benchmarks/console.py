"""The web console under a busy day's data: how long each page takes, and what the plots look like.

Seeds a fresh data dir with a synthetic day (jobs spread over 24 h with a daily rhythm, queue
waits, render times, failures with reasons, open reports with stored clips, and the audit rows
that go with them), then times every console page through the real Starlette app (median and
p95 over --runs requests each), and screenshots the plots and reports pages in Debian's chromium.

    .venv/bin/python benchmarks/console.py [--jobs-per-day 2000] [--runs 20] [--readme]

--readme copies the plots screenshot to docs/screenshots/console-plots.png.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot import storage  # noqa: E402
from zaobot.app import web_app  # noqa: E402
from zaobot.config import Settings  # noqa: E402
from zaobot.handlers.core import Conversation  # noqa: E402
from zaobot.media.scenes import SceneLibrary  # noqa: E402
from zaobot.storage import console  # noqa: E402
from zaobot.storage.store import iso  # noqa: E402
from zaobot.web.auth import SESSION_COOKIE  # noqa: E402
from zaobot.web.site import browser_routes  # noqa: E402

MODERATOR = "9001"
REASONS = [("SelfieError: no face", 5), ("delivery failed", 2), ("RenderTimeout", 1), ("JobCancelled", 2)]


class NoRunner:
    """The console never renders; the conversation core needs a runner to exist."""

    async def position(self, job_id: str) -> int:
        return 0

    def estimate_seconds(self, position: int) -> int:
        return 0

    def poke(self) -> None:
        pass


def seed(store: storage.Store, jobs_per_day: int, clip: bytes, rng: random.Random) -> tuple[str, str]:
    """A day of jobs, reports and audit rows; returns (a job id, a user hash) to search for."""
    now = datetime.now(UTC)
    users = []
    for i in range(max(50, jobs_per_day // 4)):
        users.append(storage.grant_consent(store, "telegram", str(100_000 + i)))
    jobs, audit = [], []
    for _ in range(jobs_per_day):
        hours_ago = rng.random() * 24
        hour = (now - timedelta(hours=hours_ago)).hour
        if rng.random() > 0.35 + 0.65 * (1 + math.sin((hour - 8) / 24 * 2 * math.pi)) / 2:
            continue  # a daily rhythm: busier in the evening (UTC), quiet at night
        created = now - timedelta(hours=hours_ago)
        started = created + timedelta(seconds=rng.lognormvariate(1.0, 1.0))
        finished = started + timedelta(seconds=rng.gauss(9, 2.5) if rng.random() > 0.05 else rng.gauss(25, 5))
        user = rng.choice(users)
        status, error = "done", None
        if rng.random() < 0.04:
            status = "failed"
            error = rng.choices([r for r, _ in REASONS], [w for _, w in REASONS])[0]
            if error == "JobCancelled":
                status = "cancelled"
        job_id = uuid.uuid4().hex
        jobs.append({"id": job_id, "user_id": user["id"], "scene": rng.choice(["demo", "webcam"]), "status": status,
                     "created_at": iso(created), "started_at": iso(started), "finished_at": iso(finished),
                     "error": error, "watermark_id": uuid.uuid4().hex[:16], "platform": "telegram",
                     "chat_id": str(user["id"]), "delivery": "[]", "attempts": 1, "engine": "mesh"})
        user_hash = store.user_hash("telegram", str(100_000 + users.index(user)))
        audit.append({"at": iso(created), "action": "job:queued", "job_id": job_id, "scene": jobs[-1]["scene"],
                      "user_hash": user_hash, "detail": "{}"})
        if status == "done":
            audit.append({"at": iso(finished), "action": "render", "job_id": job_id, "user_hash": user_hash,
                          "watermark_id": jobs[-1]["watermark_id"], "scene": jobs[-1]["scene"],
                          "detail": json.dumps({"engine": "mesh", "liveness": {"result": "passed"}})})
    with store.db.conn:
        store.db.table("jobs").insert_all(jobs)
        store.db.table("audit").insert_all(audit)
    done = [j for j in jobs if j["status"] == "done"]
    for job in rng.sample(done, min(12, len(done))):  # open reports, each with its clip stored
        name = store.media.put("outputs", clip)
        with store.db.conn:
            store.db.table("jobs").update(job["id"], {"output_file": name})
        storage.report(store, job["user_id"], job["id"], rng.choice(["not me", "offensive", "report button"]))
    sample = rng.choice(done)
    return sample["id"], store.user_hash("telegram", "100000")


def time_pages(client, paths: list[str], runs: int) -> dict[str, tuple[float, float]]:
    out = {}
    for path in paths:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        times.sort()
        out[path] = (statistics.median(times), times[max(0, math.ceil(0.95 * len(times)) - 1)])
    return out


def screenshots(app, cookie: str, out: Path) -> list[Path]:
    import uvicorn
    from playwright.sync_api import sync_playwright

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    made = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": f"{base}/console"}])
            page = context.new_page()
            for name in ("plots", "reports", "jobs"):
                page.goto(f"{base}/console/{name}")
                page.wait_for_load_state("networkidle")
                path = out / f"console-{name}.png"
                page.screenshot(path=str(path), full_page=name == "plots")
                made.append(path)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(5)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs-per-day", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--readme", action="store_true", help="refresh docs/screenshots/console-plots.png")
    args = parser.parse_args()
    from starlette.testclient import TestClient

    out = ROOT / "out" / "console-bench"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ZAOBOT_DATA_DIR=tmp, ZAOBOT_SECRET_KEY="bench-" + "k" * 40,  # type: ignore[call-arg]
                            TELEGRAM_MODERATOR_IDS=MODERATOR, ZAOBOT_CONSOLE="on")
        store = storage.open_store(settings)
        clip = (ROOT / "zaobot" / "scenes" / "demo" / "clip.mp4").read_bytes()
        t0 = time.perf_counter()
        job_id, user_hash = seed(store, args.jobs_per_day, clip, random.Random(7))
        seeded = time.perf_counter() - t0
        core = Conversation(store, settings, SceneLibrary(settings.scene_dirs), NoRunner())  # type: ignore[arg-type]
        token, _ = console.open_session(store, "telegram", store.user_hash("telegram", MODERATOR), method="link")
        app = web_app(settings, None, browser_routes(core, settings))
        counts = {t: store.db[t].count for t in ("jobs", "audit", "reports", "users")}
        print(f"seeded in {seeded:.1f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        paths = ["/console/reports", "/console/jobs", "/console/plots", f"/console/audit?q={job_id}",
                 f"/console/audit?q={user_hash[:16]}", "/console/verify"]
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            client.cookies.set(SESSION_COOKIE, token, path="/console")
            timings = time_pages(client, paths, args.runs)
        print(f"{'page':48} {'p50 ms':>8} {'p95 ms':>8}")
        for path, (p50, p95) in timings.items():
            print(f"{path[:48]:48} {p50:8.1f} {p95:8.1f}")
        made = screenshots(app, token, out)
        print("screenshots: " + ", ".join(str(p.relative_to(ROOT)) for p in made))
        if args.readme:
            shutil.copyfile(out / "console-plots.png", ROOT / "docs" / "screenshots" / "console-plots.png")
        core.close()
        store.close()


if __name__ == "__main__":
    main()
