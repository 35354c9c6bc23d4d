"""`zaobot worker`: one render worker process, taking jobs from Dramatiq on Redis.

One process per GPU (`--gpu N` sets CUDA_VISIBLE_DEVICES before anything loads), one job at a
time. It loads and warms the engine once, in this process: there is no fork after it, so CUDA
is never initialised in a parent. It needs the scenes (bundled, or ZAOBOT_SCENES_DIR) and the
same ZAOBOT_SECRET_KEY as the front-end; it never sees the front-end's SQLite or media folder.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from zaobot.config import Settings
from zaobot.errors import SelfieError, UnknownScene
from zaobot.jobs.broker import (
    ACTOR,
    PROGRESS,
    QUEUE,
    RESULTS,
    MediaBox,
    MediaGone,
    Result,
    WrongKey,
    make_broker,
    progress_message,
)
from zaobot.jobs.warmup import warm_up
from zaobot.jobs.worker import JobCancelled, SceneCache
from zaobot.media.scenes import SceneLibrary
from zaobot.models import Engine, create_engine
from zaobot.pipeline import RenderOptions, render_selfie
from zaobot.storage.scratch import Scratch

log = logging.getLogger(__name__)

MAX_RETRIES = 2  # an unexpected error is retried twice (Dramatiq's backoff), then reported as a failure
CANCEL_CHECK_FRAMES = 10


@dataclass
class RemoteRenderer:
    """The actor's body, holding what the process loaded once."""

    engine: Engine
    scenes: SceneCache
    options: RenderOptions
    box: MediaBox
    client: redis.Redis
    scratch: Scratch
    name: str

    def _report(self, result: Result) -> None:
        self.client.lpush(RESULTS, result.to_json())

    def render(self, job_id: str, scene_keyword: str, watermark_id: str | None) -> None:
        """One delivery of a render message. Every outcome but an unexpected error (which Dramatiq
        retries) is reported on RESULTS; the front-end keeps the first and ignores repeats."""
        message = CurrentMessage.get_current_message()
        retries = int(message.options.get("retries", 0)) if message is not None else 0
        started = time.monotonic()
        try:
            self._render(job_id, scene_keyword, watermark_id)
        except JobCancelled:
            log.info("job %s cancelled", job_id)
            self._report(Result(job_id, False, self.name, error="cancelled"))
        except WrongKey:
            log.error("job %s: the selfie does not decrypt: this worker's ZAOBOT_SECRET_KEY differs from the "
                      "front-end's", job_id)
            self._report(Result(job_id, False, self.name, key="job.failed",
                                error="worker secret key mismatch (ZAOBOT_SECRET_KEY differs from the front-end's)"))
        except MediaGone:
            self._report(Result(job_id, False, self.name, key="job.selfie_expired", error="selfie gone from Redis"))
        except (SelfieError, UnknownScene) as err:
            self._report(Result(job_id, False, self.name, key=err.key, params=dict(err.params),
                                error=type(err).__name__))
        except Exception as err:
            if retries < MAX_RETRIES:
                raise  # Dramatiq retries it, with backoff
            log.exception("job %s failed for good", job_id)
            self._report(Result(job_id, False, self.name, key="job.failed", error=type(err).__name__))
        else:
            self._report(Result(job_id, True, self.name, seconds=time.monotonic() - started,
                                engine=self.engine.name))

    def _render(self, job_id: str, scene_keyword: str, watermark_id: str | None) -> None:
        if self.box.cancelled(job_id):
            raise JobCancelled(job_id)
        selfie = self.box.get(job_id, "selfie")
        scene = self.scenes.find(scene_keyword)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if done % CANCEL_CHECK_FRAMES == 0 and self.box.cancelled(job_id):
                raise JobCancelled(job_id)
            now = time.monotonic()
            if now - last[0] > 0.5 or done == total:
                last[0] = now
                self.client.publish(PROGRESS, progress_message(job_id, done, total, self.name))

        tmp = self.scratch.new_file(job_id)  # plaintext only until it is encrypted into Redis
        try:
            render_selfie(selfie, scene, self.engine, tmp, self.options, job_id=job_id, watermark_id=watermark_id,
                          progress=progress)
            self.box.put(job_id, "clip", tmp.read_bytes())
        finally:
            tmp.unlink(missing_ok=True)


def declare(broker: dramatiq.Broker, renderer: RemoteRenderer, time_limit_s: float) -> dramatiq.Actor:
    """The render actor on `broker`, with a time limit and bounded retries."""
    broker.add_middleware(CurrentMessage())
    decorate = dramatiq.actor(broker=broker, actor_name=ACTOR, queue_name=QUEUE, time_limit=int(time_limit_s * 1000),
                              max_retries=MAX_RETRIES, min_backoff=1000, max_backoff=10_000)
    return decorate(renderer.render)


def run(settings: Settings, secret: str, gpu: int | None = None, stop: threading.Event | None = None) -> None:
    """Serve render jobs until SIGTERM/SIGINT (or `stop`)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before the engine (and CUDA) loads
    os.nice(settings.render_nice)  # on a machine shared with the bot, the chat comes first
    assert settings.broker_url is not None
    client = redis.Redis.from_url(settings.broker_url)
    scratch = Scratch(settings.data_dir / "tmp")
    scratch.clear()  # plaintext a crash of this worker left behind
    engine = create_engine(settings)
    scenes = SceneCache(SceneLibrary(settings.scene_dirs))
    report = warm_up(engine, scenes.all(), settings, secret, scratch)
    name = f"{socket.gethostname()}:{os.getpid()}"
    renderer = RemoteRenderer(engine, scenes, RenderOptions.from_settings(settings, secret),
                              MediaBox(client, secret, settings.broker_media_ttl_s), client, scratch, name)
    broker = make_broker(settings.broker_url)
    declare(broker, renderer, settings.render_time_limit_s)
    worker = dramatiq.Worker(broker, worker_threads=1)
    # One message at a time: a busy worker must not hold a second job that an idle one could render
    # now (Dramatiq prefetches twice its threads by default).
    worker.queue_prefetch = 1
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    log.info("worker %s ready (engine %s, warm in %.1f s, gpu %s)", name, type(engine).__name__, report.seconds,
             os.environ.get("CUDA_VISIBLE_DEVICES", "-"))
    try:
        stop.wait()
    finally:
        worker.stop()
        broker.close()
        engine.close()
