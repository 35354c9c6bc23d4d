"""The local job runner: a process pool fed from the jobs table, outside the event loop.

Jobs are persisted, so the queue survives restarts: on start-up, jobs that were
running when the process died are retried once, then failed. The dispatcher
starts the oldest queued job whenever a worker is free and the service is not
paused; workers poll the job's status and stop when it is cancelled.

Workers are started and warmed up as soon as the runner starts (see `jobs.warmup`), so
the first clip after start-up is not the one that pays for loading the engine.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zaobot.config import Settings
from zaobot.errors import SelfieError, UnknownScene
from zaobot.jobs.warmup import WarmReport
from zaobot.jobs.worker import JobCancelled, init_worker, ready, render_job
from zaobot.storage import (
    Job,
    JobGone,
    Store,
    attach_output,
    get_job,
    owner_hash,
    queue,
    selfie_file,
    set_status,
    undelivered_jobs,
)
from zaobot.storage.aio import StorageThread
from zaobot.storage.jobs import ACTIVE, JobStatus
from zaobot.storage.media import TamperedFile
from zaobot.tasks import end_tasks

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # the first run and one retry after an interruption
DISPATCHER_STOP_S = 2.0  # how long `stop` lets the dispatcher finish a claim before cancelling it
_SPAWN = multiprocessing.get_context("spawn")


@dataclass
class RemoteFailure(Exception):
    """A render that failed elsewhere (a `zaobot worker`), with what to tell the user."""

    key: str  # wording key
    error: str  # for the job row and the log
    params: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.error)  # str(), logs and tracebacks show the error, not an empty message

    def __reduce__(self) -> tuple[type[RemoteFailure], tuple[str, str, dict[str, object]]]:
        return RemoteFailure, (self.key, self.error, self.params)  # picklable across processes, like any error


@dataclass(frozen=True)
class Rendered:
    """A clip in a private scratch file, how long it took, and where (None: the local pool)."""

    path: Path
    seconds: float
    worker: str | None = None
    engine: str | None = None


@dataclass
class RunnerHooks:
    """How the runner reports back to the conversation core."""

    on_progress: Callable[[Job, int, int], Awaitable[None]]
    on_done: Callable[[Job], Coroutine[Any, Any, None]]  # a coroutine: resume_deliveries runs it as a task
    on_failed: Callable[[Job, str, dict[str, object]], Awaitable[None]]  # job, wording key, its parameters


def _end_processes(processes: list[multiprocessing.process.BaseProcess], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after `grace` seconds: a worker deep in native
    start-up code (mediapipe's graphs, its signal handlers) can outlive a SIGTERM, and a shutdown
    must not hang on it. These workers hold no job, so nothing is lost."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(grace)
        if process.is_alive():
            process.kill()
            process.join(grace)


class JobRunner:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.io = StorageThread(store)  # the runner's storage calls never block the event loop
        self.settings = settings
        self.hooks: RunnerHooks | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._dispatcher: asyncio.Task | None = None
        self._active: dict[str, asyncio.Task] = {}
        self._deliveries: set[asyncio.Task] = set()
        self._avg_seconds = 8.0
        self._progress_q: multiprocessing.Queue | None = None
        self._progress_thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.warm_reports: list[WarmReport] = []  # one per worker of the current pool, as they arrive
        self.warm = asyncio.Event()  # set once every worker of the current pool is warm
        self._pool_started = 0.0

    # ---------------------------------------------------------------- lifecycle

    async def start(self, hooks: RunnerHooks) -> None:
        self.hooks = hooks
        self._loop = asyncio.get_running_loop()
        self._progress_q = _SPAWN.Queue()
        self._pool = self._new_pool()
        self._progress_thread = threading.Thread(target=self._pump_progress, name="zaobot-progress", daemon=True)
        self._progress_thread.start()
        await self._recover()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="zaobot-dispatcher")

    async def stop(self) -> None:
        await self._end_dispatcher()
        jobs = [*self._active.values(), *self._deliveries]
        for task in jobs:
            task.cancel()  # an interrupted delivery stays 'rendered' and is resumed at the next start
        if self._pool:
            warming = self._warming_workers()
            self._pool.shutdown(wait=False, cancel_futures=True)
            if warming:
                await asyncio.get_running_loop().run_in_executor(None, _end_processes, warming)
        if self._progress_q is not None:
            self._progress_q.put(None)
        await end_tasks(jobs)
        self.io.close()

    async def _end_dispatcher(self, *others: asyncio.Task) -> None:
        """End the dispatcher (and `others`) first, so that it claims no job for a runner that is
        shutting down. It is asked to stop and given a moment to finish a claim in progress: a
        cancel landing in one would leave the job claimed (running) with no task to render it."""
        self._stopping = True
        self._wake.set()
        if self._dispatcher is not None:
            await asyncio.wait({self._dispatcher}, timeout=DISPATCHER_STOP_S)
        await end_tasks([*([self._dispatcher] if self._dispatcher else []), *others])

    def _warming_workers(self) -> list[multiprocessing.process.BaseProcess]:
        """Workers that have not reported warm yet. They hold no job, so `stop` ends them rather than
        make the shutdown wait for a warm-up nobody needs; warm ones (idle or rendering) are left as
        before. ProcessPoolExecutor lists its processes publicly only from Python 3.14 on."""
        warm = {report.pid for report in self.warm_reports}
        processes = getattr(self._pool, "_processes", None) or {}
        return [p for p in list(processes.values()) if p.pid not in warm and p.is_alive()]

    async def _recover(self) -> None:
        """Jobs left 'running' by a crash are retried once, then failed with a message."""
        assert self.hooks is not None
        for job in await self.io(queue.interrupted):
            if (job["attempts"] or 0) >= MAX_ATTEMPTS:
                await self.io(set_status, job["id"], JobStatus.FAILED, error="interrupted twice")
                await self.hooks.on_failed(job, "job.failed", {})
            else:
                await self.io(queue.requeue, job["id"])
                log.info("job %s was interrupted; queued again", job["id"])

    def resume_deliveries(self) -> int:
        """Send the clips that were rendered but not delivered when the process last died; call it
        once the platform adapters can send. Returns how many are on their way."""
        assert self.hooks is not None
        pending = undelivered_jobs(self.store)
        for job in pending:
            log.info("job %s was rendered but not delivered; delivering it now", job["id"])
            task = asyncio.create_task(self.hooks.on_done(job), name=f"deliver-{job['id'][:8]}")
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return len(pending)

    def poke(self) -> None:
        self._wake.set()

    # ---------------------------------------------------------------- queue facts

    async def position(self, job_id: str) -> int:
        """1-based place in line, counting the jobs running now."""
        return await self.io(queue.position, job_id)

    @property
    def capacity(self) -> int:
        """Jobs rendering at once."""
        return self.settings.workers

    @property
    def parallelism(self) -> int:
        """Renders that progress side by side (for the wait estimate)."""
        return self.settings.workers

    def estimate_seconds(self, position: int) -> int:
        rounds = math.ceil(max(1, position) / max(1, self.parallelism))
        return max(5, int(round(rounds * self._avg_seconds)))

    # ---------------------------------------------------------------- dispatch

    async def _dispatch(self) -> None:
        while not self._stopping:
            try:
                async with asyncio.timeout(1.0):  # not wait_for: on 3.11 it can swallow stop's cancel
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while (not self._stopping and len(self._active) < self.capacity
                       and not await self.io(queue.is_paused)):
                    job = await self.io(queue.claim_next)
                    if job is None:
                        break
                    self._active[job["id"]] = asyncio.create_task(self._run(job), name=f"job-{job['id'][:8]}")
            except Exception:  # noqa: BLE001 - the dispatcher must survive anything
                log.exception("dispatcher error")

    async def _render(self, job: Job, selfie: str) -> Rendered:
        """Render the job in the local pool, into a private scratch file."""
        assert self._pool is not None
        result = await asyncio.get_running_loop().run_in_executor(self._pool, render_job, job["id"], selfie,
                                                                  job["scene"], job["watermark_id"])
        return Rendered(result.path, result.seconds, engine=result.engine or None)

    async def _run(self, job: Job) -> None:
        assert self.hooks is not None
        try:
            selfie = await self.io(selfie_file, job["selfie_id"])
            if selfie is None:
                raise FileNotFoundError("selfie expired")
            rendered = await self._render(job, selfie)
            try:
                await self.io(attach_output, job, await self.io(owner_hash, job), rendered.path,
                              worker=rendered.worker, engine=rendered.engine)
            finally:
                rendered.path.unlink(missing_ok=True)
            self._avg_seconds = 0.7 * self._avg_seconds + 0.3 * rendered.seconds
            done = await self.io(get_job, job["id"])
            if done is not None:
                await self.hooks.on_done(done)
        except asyncio.CancelledError:
            raise
        except (JobCancelled, JobGone):  # only these two: a KeyError in a render is a bug, reported below
            log.info("job %s cancelled", job["id"])
        except (FileNotFoundError, TamperedFile) as exc:
            log.info("job %s: selfie unavailable (%s)", job["id"], type(exc).__name__)
            await self._fail(job, "job.selfie_expired", type(exc).__name__)
        except (SelfieError, UnknownScene) as exc:
            await self._fail(job, exc.key, type(exc).__name__, exc.params)
        except RemoteFailure as exc:  # a render worker elsewhere reported it (jobs.broker_runner)
            log.info("job %s failed on a worker: %s", job["id"], exc.error)
            await self._fail(job, exc.key, exc.error, exc.params)
        except BrokenProcessPool:
            log.exception("render worker died on job %s", job["id"])
            await self._fail(job, "job.failed", "worker died")
            self._restart_pool()
        except Exception as exc:  # noqa: BLE001 - report, never crash the bot
            log.exception("job %s failed", job["id"])
            await self._fail(job, "job.failed", type(exc).__name__)
        finally:
            self._active.pop(job["id"], None)
            self.poke()

    async def _fail(self, job: Job, key: str, error: str, params: dict[str, object] | None = None) -> None:
        current = await self.io(get_job, job["id"])
        if current is None or current["status"] not in ACTIVE:
            return  # cancelled or purged meanwhile: nobody to tell
        await self.io(set_status, job["id"], JobStatus.FAILED, error=error)
        assert self.hooks is not None
        await self.hooks.on_failed(current, key, params or {})

    def _new_pool(self) -> ProcessPoolExecutor:
        """Workers are spawned (mediapipe and threads don't survive fork), load the engine once and warm up.

        The pool starts a process only when a job needs one, so one no-op per worker starts them all
        now: they warm up while the bot already answers, and a job submitted meanwhile waits behind
        the warm-up instead of paying for it."""
        pool = ProcessPoolExecutor(max_workers=self.settings.workers, mp_context=_SPAWN, initializer=init_worker,
                                   initargs=(self.settings, self.store.secret, self._progress_q))
        self.warm_reports = []
        self.warm.clear()
        self._pool_started = time.monotonic()
        for _ in range(self.settings.workers):
            pool.submit(ready)
        return pool

    def _restart_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    # ---------------------------------------------------------------- progress

    def _pump_progress(self) -> None:
        assert self._progress_q is not None and self._loop is not None
        while True:
            item = self._progress_q.get()
            if item is None:
                return
            if isinstance(item, WarmReport):
                self._loop.call_soon_threadsafe(self._warmed, item)
                continue
            job_id, done, total = item
            asyncio.run_coroutine_threadsafe(self._progress(job_id, done, total), self._loop)

    def _warmed(self, report: WarmReport) -> None:
        """Record one worker's warm-up; log once the whole pool is warm."""
        self.warm_reports.append(report)
        for error in report.errors:
            log.warning("render worker %d: could not warm up %s", report.pid, error)
        if len(self.warm_reports) == self.settings.workers and not self.warm.is_set():
            self.warm.set()
            log.info("workers warm in %.1f s (%d worker(s), each loaded scenes %s and rendered %d frames in %.1f s)",
                     time.monotonic() - self._pool_started, len(self.warm_reports),
                     ", ".join(self.warm_reports[0].scenes) or "none", min(r.frames for r in self.warm_reports),
                     max(r.seconds for r in self.warm_reports))

    async def _progress(self, job_id: str, done: int, total: int) -> None:
        job = await self.io(get_job, job_id)
        if job is not None and self.hooks is not None:
            try:
                await self.hooks.on_progress(job, done, total)
            except Exception:  # noqa: BLE001 - progress is best effort
                log.debug("progress update failed", exc_info=True)
