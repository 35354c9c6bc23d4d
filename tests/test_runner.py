"""The render worker in-process: a job renders with its watermark, and a cancelled job stops cleanly."""

from __future__ import annotations

import threading

import pytest

from zaobot import storage
from zaobot.jobs import worker
from zaobot.media.video import probe
from zaobot.media.watermark import detect_clip

from tests.storage_helpers import SECRET, make_settings


@pytest.fixture()
def job_store(tmp_path, demo_selfie_bytes):
    settings = make_settings(tmp_path / "data", engine="mesh")
    st = storage.open_store(settings)
    user = storage.grant_consent(st, "telegram", "4242")
    sid = storage.add_selfie(st, user["id"], demo_selfie_bytes)
    job = storage.create_job(st, user["id"], "demo", selfie_id=sid, chat_id="4242", platform="telegram")
    worker.init_worker(settings, SECRET, None)
    yield st, job, st.db["selfies"].get(sid)["file"]
    worker._worker.engine.close()  # type: ignore[union-attr]
    worker._worker = None
    st.close()


def test_render_job_writes_a_watermarked_clip(job_store):
    st, job, selfie_file = job_store
    st.db["jobs"].update(job["id"], {"status": "running"})
    result = worker.render_job(job["id"], selfie_file, "demo", job["watermark_id"])
    path = result.path
    try:
        assert probe(path).frames == 125
        assert detect_clip(path, SECRET).watermark_id == job["watermark_id"]
    finally:
        path.unlink()


def test_cancelled_job_stops_and_leaves_nothing(job_store):
    st, job, selfie_file = job_store
    st.db["jobs"].update(job["id"], {"status": "cancelled"})  # e.g. /delete while it was running
    before = set(threading.enumerate())
    with pytest.raises(worker.JobCancelled):
        worker.render_job(job["id"], selfie_file, "demo", job["watermark_id"])
    assert list((st.settings.data_dir / "tmp").iterdir()) == []
    leftover = [t for t in set(threading.enumerate()) - before if t.name.startswith("zaobot-")]
    assert leftover == []


def test_user_facing_errors_survive_the_trip_from_a_worker_process():
    import pickle

    from zaobot.errors import EyeClosedOrHidden, EyesClosed, FaceCovered, MultipleFaces, UnknownScene

    err = pickle.loads(pickle.dumps(MultipleFaces(count=3)))
    assert isinstance(err, MultipleFaces) and err.params == {"count": 3} and "3" in err.message("en")
    for cls in (EyesClosed, EyeClosedOrHidden, FaceCovered):
        back = pickle.loads(pickle.dumps(cls()))
        assert type(back) is cls and back.key == cls.key and back.message("zh") == cls().message("zh")
    assert pickle.loads(pickle.dumps(UnknownScene(keyword="x", choices="demo"))).message("zh").count("demo") == 1


@pytest.mark.parametrize("bug", [KeyError("frame"), IndexError("landmarks")])
def test_a_render_bug_fails_the_job_and_tells_the_user_instead_of_passing_for_a_cancel(tmp_path, monkeypatch, bug):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from zaobot.jobs import runner as runner_mod

    settings = make_settings(tmp_path / "data", engine="mesh")
    st = storage.open_store(settings)
    user = storage.grant_consent(st, "telegram", "4242")
    sid = storage.add_selfie(st, user["id"], b"selfie bytes")
    job = storage.create_job(st, user["id"], "demo", selfie_id=sid, chat_id="4242", platform="telegram")
    st.db["jobs"].update(job["id"], {"status": "running"})

    def buggy_render(*args):
        raise bug

    monkeypatch.setattr(runner_mod, "render_job", buggy_render)
    failed: list[tuple[str, str]] = []

    async def on_failed(j, key, params):
        failed.append((j["id"], key))

    async def nothing(*args):
        return None

    run = runner_mod.JobRunner(st, settings)
    run.hooks = runner_mod.RunnerHooks(on_progress=nothing, on_done=nothing, on_failed=on_failed)
    run._pool = ThreadPoolExecutor(1)  # type: ignore[assignment]
    try:
        asyncio.run(run._run(storage.get_job(st, job["id"])))
    finally:
        run._pool.shutdown()
        st.close()
    st = storage.open_store(settings)
    try:
        row = storage.get_job(st, job["id"])
        assert row["status"] == "failed" and row["error"] == type(bug).__name__  # not left 'running'
        assert failed == [(job["id"], "job.failed")]
    finally:
        st.close()


def test_a_remote_failure_reads_as_its_error_in_logs_and_survives_pickling():
    import pickle

    from zaobot.jobs.runner import RemoteFailure

    failure = RemoteFailure("render.failed", "RuntimeError: the worker's GPU ran out of memory", {"job": "j1"})
    assert str(failure) == "RuntimeError: the worker's GPU ran out of memory"
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.key, copy.error, copy.params) == (failure.key, failure.error, failure.params)
