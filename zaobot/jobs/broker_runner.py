"""The front-end's runner when ZAOBOT_BROKER_URL is set: renders go to `zaobot worker` processes.

SQLite stays the one source of truth, written only here: the dispatcher claims queued jobs as
the local runner does (so pause, limits, positions and recovery are the same), then, instead of
a local process, puts the selfie (encrypted) in Redis and sends a Dramatiq message. Results come
back on a Redis list and are matched to the waiting job by id: a job redelivered after a worker
died may report twice, and only the first report counts, so a user never gets two clips.

Three watchers run beside the dispatcher:
- results (`RESULTS`), progress (`PROGRESS`, pub/sub: the status message still moves);
- cancellations: a job in flight that is no longer active in SQLite (a /delete, a takedown)
  gets a cancel flag the worker checks between frames, and its media keys are deleted;
- Redis itself: its run id changes when it restarts, and a restarted Redis (persistence off,
  as the README asks for the media database) has lost the queue and the media, so every job in
  flight is sent again from SQLite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import redis
import redis.asyncio as aredis
from dramatiq import Message

from zaobot.config import Settings
from zaobot.jobs.broker import ACTOR, PROGRESS, QUEUE, RESULTS, MediaBox, Result, make_broker
from zaobot.jobs.remote_worker import MAX_RETRIES
from zaobot.jobs.runner import JobRunner, RemoteFailure, Rendered, RunnerHooks
from zaobot.jobs.worker import JobCancelled
from zaobot.storage import Job, Store, get_job
from zaobot.storage.jobs import ACTIVE

log = logging.getLogger(__name__)

WATCH_S = 1.0
WORKER_SEEN_S = 600.0  # a worker that reported within this counts towards the wait estimate


def _read_media(store: Store, name: str) -> bytes:
    return store.media.get(name)


class BrokerRunner(JobRunner):
    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        assert settings.broker_url is not None
        self.url = settings.broker_url
        self._broker = make_broker(self.url)
        self._box = MediaBox(redis.Redis.from_url(self.url), store.secret, settings.broker_media_ttl_s)
        self._aredis: aredis.Redis | None = None
        self._waiting: dict[str, asyncio.Future[Result]] = {}
        self._sent: dict[str, tuple[Job, bytes]] = {}  # in flight: what to send again if Redis restarts
        self._watchers: list[asyncio.Task] = []
        self._run_id: str | None = None
        self._workers_seen: dict[str, float] = {}
        self.rendering: dict[str, str] = {}  # job id -> the worker whose progress was heard last

    @property
    def capacity(self) -> int:
        return self.settings.broker_inflight

    @property
    def parallelism(self) -> int:
        now = time.monotonic()
        return max(1, sum(1 for at in self._workers_seen.values() if now - at < WORKER_SEEN_S))

    # ---------------------------------------------------------------- lifecycle

    async def start(self, hooks: RunnerHooks) -> None:
        self.hooks = hooks
        self._loop = asyncio.get_running_loop()
        self._aredis = aredis.Redis.from_url(self.url)
        try:  # the server that the first jobs go to: a restart is told from a change of its run id
            self._run_id = await self._server_run_id()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            log.warning("broker: Redis unreachable at start; jobs wait in SQLite until it is back")
        self.warm.set()  # the workers warm themselves up, elsewhere
        await self._recover()
        self._watchers = [asyncio.create_task(coro, name=name) for coro, name in (
            (self._take_results(), "zaobot-results"), (self._take_progress(), "zaobot-progress"),
            (self._watch(), "zaobot-broker-watch"))]
        self._dispatcher = asyncio.create_task(self._dispatch(), name="zaobot-dispatcher")
        log.info("renders go to workers through the broker (%d in flight at most)", self.capacity)

    async def stop(self) -> None:
        # The dispatcher with the watchers: without the results watcher nobody would hear what it sends.
        # (end_tasks: a single cancel can be lost inside redis-py, see zaobot.tasks.)
        await self._end_dispatcher(*self._watchers)
        await super().stop()  # jobs in flight stay 'running': the next start sends them again
        if self._aredis is not None:
            await self._aredis.aclose()
        self._broker.close()
        self._box.client.close()

    # ---------------------------------------------------------------- one job

    def _send(self, job: Job, selfie: bytes) -> None:
        self._box.put(job["id"], "selfie", selfie)
        self._broker.enqueue(Message(queue_name=QUEUE, actor_name=ACTOR,
                                     args=(job["id"], job["scene"], job["watermark_id"]), kwargs={}, options={}))

    async def _render(self, job: Job, selfie: str) -> Rendered:
        data = await self.io(_read_media, selfie)
        waiting: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting[job["id"]] = waiting
        self._sent[job["id"]] = (job, data)
        deadline = self.settings.render_time_limit_s * (MAX_RETRIES + 1) + 300
        try:
            await asyncio.to_thread(self._send, job, data)
            async with asyncio.timeout(deadline):  # not wait_for: on 3.11 it can swallow a cancel
                result = await waiting
        except TimeoutError:
            raise RemoteFailure("job.failed", "no worker answered in time") from None
        finally:
            self._waiting.pop(job["id"], None)
            self._sent.pop(job["id"], None)
            self.rendering.pop(job["id"], None)
        self._workers_seen[result.worker] = time.monotonic()
        if not result.ok:
            await asyncio.to_thread(self._box.drop, job["id"])
            if result.error == "cancelled":
                raise JobCancelled(job["id"])
            raise RemoteFailure(result.key or "job.failed", result.error, result.params)
        try:
            clip = await asyncio.to_thread(self._box.get, job["id"], "clip")
        finally:
            await asyncio.to_thread(self._box.drop, job["id"])
        path = self.store.media.scratch.new_file(job["id"])  # encrypted into media storage by the caller
        await asyncio.to_thread(path.write_bytes, clip)
        return Rendered(path, result.seconds, result.worker, result.engine or None)

    # ---------------------------------------------------------------- watchers

    async def _take_results(self) -> None:
        assert self._aredis is not None
        while True:
            try:
                item = await self._aredis.brpop([RESULTS], timeout=1)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await asyncio.sleep(0.5)  # Redis restarting: redis-py reconnects on the next call
                continue
            if not item:
                continue
            try:
                result = Result.from_json(item[1])
            except (ValueError, TypeError):
                log.warning("ignored a malformed result message")
                continue
            waiting = self._waiting.get(result.job_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(result)
            elif waiting is None:  # a second delivery of a finished job: its clip is not wanted
                log.info("job %s: a repeated result from %s was ignored", result.job_id, result.worker)
                await asyncio.to_thread(self._box.drop, result.job_id)

    async def _take_progress(self) -> None:
        assert self._aredis is not None
        while True:
            try:
                async with self._aredis.pubsub() as pubsub:
                    await pubsub.subscribe(PROGRESS)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = json.loads(message["data"])
                        if data.get("job_id") in self._waiting:
                            self.rendering[data["job_id"]] = str(data.get("worker", ""))
                            await self._progress(data["job_id"], int(data["done"]), int(data["total"]))
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await asyncio.sleep(0.5)
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed progress message")

    async def _watch(self) -> None:
        assert self._aredis is not None
        down = False
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                await self._cancel_gone()
                run_id = await self._server_run_id()
                if down:
                    log.warning("broker: Redis is back")
                    down = False
                if self._run_id is not None and run_id != self._run_id:
                    log.warning("broker: Redis restarted; sending %d job(s) in flight again", len(self._sent))
                    for job, data in list(self._sent.values()):
                        await asyncio.to_thread(self._send, job, data)
                self._run_id = run_id
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                if not down:
                    log.warning("broker: Redis unreachable; retrying")
                down = True
            except Exception:  # noqa: BLE001 - the watcher must survive anything
                log.exception("broker watcher error")

    async def _server_run_id(self) -> str:
        assert self._aredis is not None
        return str((await self._aredis.info("server"))["run_id"])

    async def _cancel_gone(self) -> None:
        """Jobs in flight that SQLite no longer has as active (a /delete, a takedown): tell the workers."""
        for job_id in list(self._waiting):
            job = await self.io(get_job, job_id)
            if job is None or job["status"] not in ACTIVE:
                await asyncio.to_thread(self._box.cancel, job_id)
                waiting = self._waiting.get(job_id)
                if waiting is not None and not waiting.done():
                    waiting.set_result(Result(job_id, False, "front-end", error="cancelled"))
