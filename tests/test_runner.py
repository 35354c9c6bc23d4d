"""The render worker in-process: a job renders with its watermark, and a cancelled job stops cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

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
    result = worker.render_job(job["id"], selfie_file, "demo", "zaobot", job["watermark_id"])
    path = Path(str(result["path"]))
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
        worker.render_job(job["id"], selfie_file, "demo", "zaobot", job["watermark_id"])
    assert list((st.settings.data_dir / "tmp").iterdir()) == []
    leftover = [t for t in set(threading.enumerate()) - before if t.name.startswith("zaobot-")]
    assert leftover == []


def test_user_facing_errors_survive_the_trip_from_a_worker_process():
    import pickle

    from zaobot.errors import EyesClosed, FaceCovered, MultipleFaces, UnknownScene

    err = pickle.loads(pickle.dumps(MultipleFaces(count=3)))
    assert isinstance(err, MultipleFaces) and err.params == {"count": 3} and "3" in err.message("en")
    for cls in (EyesClosed, FaceCovered):
        back = pickle.loads(pickle.dumps(cls()))
        assert type(back) is cls and back.key == cls.key and back.message("zh") == cls().message("zh")
    assert pickle.loads(pickle.dumps(UnknownScene(keyword="x", choices="demo"))).message("zh").count("demo") == 1
