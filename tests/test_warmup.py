"""Start-up warm-up: render workers and the selfie checker are warm before the first user needs them."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

from zaobot import storage
from zaobot.handlers.selfie_check import SelfieChecker
from zaobot.jobs import JobRunner, RunnerHooks
from zaobot.jobs.warmup import WARM_FRAMES
from zaobot.jobs.worker import SceneCache
from zaobot.media.scenes import ANALYSIS, SceneLibrary
from zaobot.media.video import probe
from zaobot.models.mesh import MeshEngine

from tests.storage_helpers import make_settings


def test_runner_warms_its_workers_at_start_and_a_job_sent_meanwhile_waits_behind_it(tmp_path, demo_selfie_bytes):
    settings = make_settings(tmp_path / "data", engine="mesh", workers=1)
    store = storage.open_store(settings)
    user = storage.grant_consent(store, "test", "u1")
    selfie = storage.add_selfie(store, user["id"], demo_selfie_bytes)
    done: list[tuple[dict, bool]] = []
    failed: list[str] = []

    async def main() -> JobRunner:
        runner = JobRunner(store, settings)
        finished = asyncio.Event()

        async def on_done(job: dict) -> None:
            done.append((job, runner.warm.is_set()))
            finished.set()

        async def on_failed(job: dict, key: str, params: dict) -> None:
            failed.append(key)
            finished.set()

        async def on_progress(job: dict, n: int, total: int) -> None:
            pass

        started = time.monotonic()
        await runner.start(RunnerHooks(on_progress=on_progress, on_done=on_done, on_failed=on_failed))
        assert time.monotonic() - started < 5, "start() must not wait for the warm-up"
        # A job submitted while the worker is still warming up.
        storage.create_job(store, user["id"], "demo", selfie_id=selfie, platform="test", chat_id="c1")
        runner.poke()
        try:
            await asyncio.wait_for(runner.warm.wait(), 180)
            await asyncio.wait_for(finished.wait(), 180)
        finally:
            await runner.stop()
        return runner

    try:
        runner = asyncio.run(main())
        [report] = runner.warm_reports
        assert report.pid != os.getpid()  # it came from the spawned worker process
        assert report.errors == () and "demo" in report.scenes
        assert report.frames == WARM_FRAMES  # the real render path ran ...
        assert all(report.stages.get(stage, 0) > 0 for stage in ("decode", "swap", "blend", "watermark", "encode"))
        assert list((settings.data_dir / "tmp").iterdir()) == []  # ... into a temp file that is gone
        assert failed == [] and len(done) == 1
        job, warm_when_done = done[0]
        assert job["status"] == "rendered" and warm_when_done
        with store.media.decrypted_file(job["output_file"], job["id"]) as clip:
            assert probe(clip).frames == 125  # the whole clip, stored encrypted
    finally:
        store.close()


def test_stopping_during_the_warm_up_does_not_wait_for_it(tmp_path):
    settings = make_settings(tmp_path / "data", engine="mesh", workers=1)
    store = storage.open_store(settings)

    async def main() -> list:
        runner = JobRunner(store, settings)

        async def nothing(*args: object) -> None:
            pass

        await runner.start(RunnerHooks(on_progress=nothing, on_done=nothing, on_failed=nothing))
        warming = runner._warming_workers()
        await runner.stop()
        return warming

    try:
        warming = asyncio.run(main())
        assert len(warming) == 1
        warming[0].join(10)
        assert not warming[0].is_alive()
    finally:
        store.close()


def test_selfie_checker_builds_and_runs_its_analyser_at_warm_up(tmp_path, demo_selfie_bytes):
    settings = make_settings(tmp_path / "data")
    built: list[MeshEngine] = []

    def factory() -> MeshEngine:
        built.append(MeshEngine(min_face_px=settings.min_face_px))
        return built[-1]

    checker = SelfieChecker(settings, engine_factory=factory)
    try:
        seconds = asyncio.run(checker.warm())
        assert seconds is not None and seconds > 0 and len(built) == 1
        asyncio.run(checker.check(demo_selfie_bytes))  # the first real check reuses the warm analyser
        assert len(built) == 1
    finally:
        checker.close()
        for engine in built:
            engine.close()


def test_a_worker_loads_each_scene_analysis_once_until_it_changes(tmp_path):
    from zaobot.config import BUNDLED_SCENES_DIR

    shutil.copytree(BUNDLED_SCENES_DIR / "demo", tmp_path / "scenes" / "demo")
    cache = SceneCache(SceneLibrary([tmp_path / "scenes"]))
    first = cache.find("demo")
    analysis = first.analysis
    assert cache.find(" DEMO ") is first and cache.all()[0].analysis is analysis
    path = first.directory / ANALYSIS
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # `scenes add` wrote it again
    assert cache.find("demo") is not first
