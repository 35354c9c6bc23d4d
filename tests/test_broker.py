"""Scale-out on a real Redis with real `zaobot worker` processes (issue 14).

The front-end here is the real BrokerRunner with the real SQLite store, in this process; the
hooks stand for the chat (they record each clip handed to the user). Each worker has its own
empty data dir: media reach it only through Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from zaobot import storage
from zaobot.jobs.broker import MEDIA_PREFIX
from zaobot.jobs.broker_runner import BrokerRunner
from zaobot.jobs.runner import RunnerHooks
from zaobot.storage import Job

from tests.broker_harness import RedisServer, Worker
from tests.storage_helpers import SECRET, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    redis_server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield redis_server
    redis_server.stop()


@pytest.fixture(scope="module")
def workers(server, tmp_path_factory):
    pair = [Worker(server.url, tmp_path_factory.mktemp(f"worker{i}"), SECRET) for i in range(2)]
    for w in pair:
        w.start(wait=False)
    for w in pair:
        w.wait_ready()
    yield pair
    for w in pair:
        w.stop()


class Chat:
    """The user's side: which clips arrived, which failures were told."""

    def __init__(self) -> None:
        self.clips: Counter[str] = Counter()
        self.failures: dict[str, str] = {}
        self.progress: dict[str, int] = {}

    def hooks(self) -> RunnerHooks:
        async def on_progress(job: Job, done: int, total: int) -> None:
            self.progress[job["id"]] = done

        async def on_done(job: Job) -> None:
            self.clips[job["id"]] += 1

        async def on_failed(job: Job, key: str, params: dict[str, object]) -> None:
            self.failures[job["id"]] = key

        return RunnerHooks(on_progress=on_progress, on_done=on_done, on_failed=on_failed)


def new_jobs(store: storage.Store, selfie: bytes, count: int, first_user: int = 0) -> list[str]:
    ids = []
    for n in range(count):
        user = storage.grant_consent(store, "test", f"u{first_user + n}")
        selfie_id = storage.add_selfie(store, user["id"], selfie)
        ids.append(storage.create_job(store, user["id"], "demo", selfie_id=selfie_id)["id"])
    return ids


def run_front_end(tmp_path, server: RedisServer, scenario: Callable[[BrokerRunner, storage.Store, Chat],
                                                                     Awaitable[None]], **overrides: object) -> Chat:
    settings = make_settings(tmp_path / "front", broker_url=server.url, **overrides)
    store = storage.open_store(settings)
    chat = Chat()

    async def main() -> None:
        runner = BrokerRunner(store, settings)
        await runner.start(chat.hooks())
        try:
            await scenario(runner, store, chat)
        finally:
            await runner.stop()

    try:
        asyncio.run(main())
    finally:
        store.close()
    return chat


async def until(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds it took for `predicate` to hold (AssertionError after `timeout`)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def render_workers(store: storage.Store, job_ids: list[str]) -> dict[str, str]:
    rows = store.db["audit"].rows_where("action = 'render'")
    return {r["job_id"]: json.loads(r["detail"])["worker"] for r in rows if r["job_id"] in job_ids}


def media_keys(server: RedisServer) -> list[bytes]:
    return list(server.client().scan_iter(f"{MEDIA_PREFIX}*"))


def test_the_front_end_stops_within_seconds_even_just_after_it_started(tmp_path, server):
    """On Python 3.11 a cancel that lands as redis-py finishes a socket write is dropped (asyncio.wait_for),
    and a watcher survived `stop`: stopping right after a start hung every time. The loop is run by hand so
    that a stop that never ends fails the test instead of hanging it in asyncio.run's own clean-up."""
    async def start_then_stop(settings, store, delay: float) -> float | None:
        runner = BrokerRunner(store, settings)
        await runner.start(Chat().hooks())
        await asyncio.sleep(delay)
        started = time.monotonic()
        stopping = asyncio.create_task(runner.stop())
        done, _ = await asyncio.wait({stopping}, timeout=15)
        if not done:
            return None
        assert runner._dispatcher is not None and runner._dispatcher.done()
        assert all(task.done() for task in runner._watchers)  # ended, not left looping
        return time.monotonic() - started

    for n, delay in enumerate((0.0, 0.0, 0.01, 0.1, 0.5, 1.2)):
        settings = make_settings(tmp_path / f"front{n}", broker_url=server.url)
        store = storage.open_store(settings)
        loop = asyncio.new_event_loop()
        try:
            took = loop.run_until_complete(start_then_stop(settings, store, delay))
        finally:
            loop.close()
            store.close()
        assert took is not None, f"stop() had not ended 15 s after a start {delay} s earlier"
        assert took < 5, f"stop() took {took:.1f} s"


def test_jobs_spread_over_both_workers_and_each_user_gets_one_clip(tmp_path, server, workers, demo_selfie_bytes):
    async def scenario(runner: BrokerRunner, store: storage.Store, chat: Chat) -> None:
        ids = new_jobs(store, demo_selfie_bytes, 4)
        runner.poke()
        await until(lambda: len(chat.clips) == 4, 240)
        await asyncio.sleep(2)  # any late duplicate would arrive now
        assert all(chat.clips[i] == 1 for i in ids) and chat.failures == {}
        used = set(render_workers(store, ids).values())
        assert {w.name_suffix for w in workers} == {name[name.rindex(":"):] for name in used}
        assert all(storage.get_job(store, i)["status"] == "rendered" for i in ids)  # type: ignore[index]
        assert chat.progress and max(chat.progress.values()) > 0  # the status message moved

    run_front_end(tmp_path, server, scenario)
    assert media_keys(server) == []


def test_a_worker_killed_mid_render_its_job_finishes_on_the_other_once(tmp_path, server, workers,
                                                                       demo_selfie_bytes):
    async def scenario(runner: BrokerRunner, store: storage.Store, chat: Chat) -> None:
        [job_id] = new_jobs(store, demo_selfie_bytes, 1, first_user=100)
        runner.poke()
        await until(lambda: chat.progress.get(job_id, 0) > 0, 60)
        name = runner.rendering[job_id]
        renderer = next(w for w in workers if name.endswith(w.name_suffix))
        renderer.kill()
        # Redelivery, the broker's part, is timed on its own: with maintenance on 20% of commands the other
        # worker reported progress 11-27 s after the kill (the CI run that failed took 31.6 s in all), with
        # maintenance on every command 10.4-11.1 s.
        picked_up = await until(lambda: runner.rendering.get(job_id, name) != name or chat.clips[job_id] > 0, 60)
        rendered = await until(lambda: chat.clips[job_id] >= 1, 120)
        print(f"\nkill -9 mid-render: the other worker took the job {picked_up:.1f} s after the kill, "
              f"and the clip was handed over {rendered:.1f} s later")
        # Timed to the other worker's first progress: the redelivery plus its set-up and first frame.
        assert picked_up < 18, f"the other worker rendered {picked_up:.0f} s after the kill (heartbeat 10 s)"
        assert picked_up + rendered < 30, f"the clip came {picked_up + rendered:.0f} s after the kill"
        await asyncio.sleep(3)
        assert chat.clips[job_id] == 1 and chat.failures == {}
        [(_, name)] = render_workers(store, [job_id]).items()
        assert not name.endswith(renderer.name_suffix)
        renderer.start()  # back for the next tests

    run_front_end(tmp_path, server, scenario)
    assert media_keys(server) == []


def test_redis_restarted_with_jobs_queued_loses_no_job(tmp_path, server, workers, demo_selfie_bytes):
    for w in workers:
        w.stop()  # the jobs wait in Redis, then Redis loses them

    async def scenario(runner: BrokerRunner, store: storage.Store, chat: Chat) -> None:
        ids = new_jobs(store, demo_selfie_bytes, 3, first_user=200)
        runner.poke()
        await until(lambda: len(media_keys(server)) == 3, 20)  # selfies in Redis, messages sent
        await asyncio.sleep(0.5)
        server.restart()
        assert media_keys(server) == []  # the queue and the selfies are gone with it
        for w in workers:
            w.start(wait=False)
        await until(lambda: len(chat.clips) == 3, 300)
        assert all(chat.clips[i] == 1 for i in ids) and chat.failures == {}

    run_front_end(tmp_path, server, scenario)
    assert media_keys(server) == []


def test_a_worker_with_another_secret_fails_jobs_clearly(tmp_path, server, workers, demo_selfie_bytes):
    for w in workers:
        w.wait_ready()
        w.stop()
    stranger = Worker(server.url, tmp_path / "stranger", "another-secret-" + "y" * 40).start()

    async def scenario(runner: BrokerRunner, store: storage.Store, chat: Chat) -> None:
        [job_id] = new_jobs(store, demo_selfie_bytes, 1, first_user=300)
        runner.poke()
        await until(lambda: job_id in chat.failures, 60)
        job = storage.get_job(store, job_id)
        assert job is not None and job["status"] == "failed" and "secret key mismatch" in (job["error"] or "")
        assert chat.failures[job_id] == "job.failed" and chat.clips == Counter()

    try:
        run_front_end(tmp_path, server, scenario)
    finally:
        stranger.stop()
        for w in workers:
            w.start(wait=False)
    assert "ZAOBOT_SECRET_KEY differs" in stranger.log.read_text()
    assert media_keys(server) == []


def test_delete_during_a_render_cancels_it_on_the_worker_and_drops_its_keys(tmp_path, server, workers,
                                                                            demo_selfie_bytes):
    for w in workers:
        w.wait_ready()

    async def scenario(runner: BrokerRunner, store: storage.Store, chat: Chat) -> None:
        [job_id] = new_jobs(store, demo_selfie_bytes, 1, first_user=400)
        runner.poke()
        await until(lambda: chat.progress.get(job_id, 0) > 0, 60)
        name = runner.rendering[job_id]
        receipt = storage.purge_user(store, "test", "u400")  # what /delete runs
        assert receipt.cancelled_jobs == [job_id]
        await until(lambda: job_id not in runner.rendering, 20)
        await asyncio.sleep(2)
        assert chat.clips == Counter() and media_keys(server) == []
        worker = next(w for w in workers if name.endswith(w.name_suffix))
        assert f"job {job_id} cancelled" in worker.log.read_text()

    run_front_end(tmp_path, server, scenario)


def test_zaobot_serve_with_a_broker_url_renders_on_the_workers(tmp_path, server, workers, demo_selfie_bytes):
    """The real `zaobot serve`, chosen runner and all, behind the fake Bot API: the clip comes from a worker."""
    from tests.fake_telegram import FakeTelegram
    from tests.telegram_harness import Bot

    for w in workers:
        w.wait_ready()
    fake = FakeTelegram().start()
    bot = Bot(fake, tmp_path / "data", tmp_path / "serve.log", ZAOBOT_BROKER_URL=server.url).start()
    try:
        user = 501
        bot.consent(user)
        since = fake.mark()
        fake.send_photo(user, demo_selfie_bytes, caption="demo")
        clip = fake.wait_for(lambda c: c.method == "sendVideo" and str(c.params["chat_id"]) == str(user), 120, since)
        job_id = clip.params["caption"].rsplit("Job ", 1)[1].strip()
        [render] = bot.rows("SELECT detail FROM audit WHERE action = 'render' AND job_id = ?", job_id)
        assert any(json.loads(render["detail"])["worker"].endswith(w.name_suffix) for w in workers)
        # The plaintext clip went once stored; the copy decrypted for sending goes once the send returns,
        # which is just after the fake Bot API has recorded the call.
        scratch = tmp_path / "data" / "tmp"
        deadline = time.monotonic() + 10
        while list(scratch.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(scratch.iterdir()) == []
    finally:
        bot.stop()
        fake.stop()
    assert "renders go to workers through the broker" in (tmp_path / "serve.log").read_text()
    assert media_keys(server) == []
