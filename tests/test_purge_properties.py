"""/delete really deletes: a property test over random histories, and a crash at every step."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zaobot import storage
from zaobot.storage.purge import STEPS

from tests.storage_helpers import SECRET, make_settings, rows_mentioning, scan_bytes

ROOT = Path(__file__).resolve().parents[1]
USERS = ["user-a-918273", "user-b-564738", "user-c-102938"]
OPS = ["consent", "selfie", "job", "output", "report", "ban", "revoke", "purge", "sweep"]


def apply(store, op: str, who: str, scratch: Path) -> None:
    user = storage.find_user(store, "telegram", who)
    if op == "consent":
        storage.grant_consent(store, "telegram", who)
    elif op == "revoke":
        storage.revoke_consent(store, "telegram", who)
    elif op == "purge":
        storage.purge_user(store, "telegram", who)
    elif op == "sweep":
        storage.sweep(store)
    elif op == "ban":
        storage.ban(store, "telegram", who, reason=f"ban of {who}", moderator_hash="mod")
    elif user is None:
        return  # nothing is stored for someone who has not consented
    elif op == "selfie":
        storage.add_selfie(store, user["id"], f"selfie of {who}".encode() * 20)
    elif op in ("job", "output"):
        job = storage.create_job(store, user["id"], "demo", chat_id=who)
        if op == "output":
            clip = scratch / f"{job['id']}.mp4"
            clip.write_bytes(f"clip of {who}".encode() * 50)
            storage.attach_output(store, job, store.user_hash("telegram", who), clip)
    elif op == "report":
        storage.report(store, user["id"], None, f"report by {who}")


def snapshot(store, who: str) -> dict:
    """Everything stored about `who`: rows (by table) and decrypted media."""
    user = storage.find_user(store, "telegram", who)
    if user is None:
        return {"user": None}
    uid = user["id"]
    files = {}
    for row in store.db["selfies"].rows_where("user_id = ?", [uid]):
        files[row["file"]] = store.media.get(row["file"])
    for row in store.db["jobs"].rows_where("user_id = ? and output_file is not null", [uid]):
        files[row["output_file"]] = store.media.get(row["output_file"])
    return {
        "user": user,
        "consents": list(store.db["consents"].rows_where("user_id = ?", [uid])),
        "jobs": list(store.db["jobs"].rows_where("user_id = ?", [uid])),
        "reports": list(store.db["reports"].rows_where("reporter_id = ?", [uid])),
        "files": files,
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(USERS)), min_size=1, max_size=30),
       target=st.sampled_from(USERS))
def test_purge_leaves_nothing_but_hmac_audit(history, target):
    data_dir = Path(tempfile.mkdtemp(prefix="zaobot-prop-"))
    scratch = data_dir.parent / (data_dir.name + "-scratch")
    scratch.mkdir()
    try:
        store = storage.open_store(make_settings(data_dir / "data"))
        # Every user consents first, so the history has something to delete.
        for who in USERS:
            apply(store, "consent", who, scratch)
        for op, who in history:
            apply(store, op, who, scratch)
        others = {who: snapshot(store, who) for who in USERS if who != target}
        target_files = set(snapshot(store, target).get("files", {}))

        storage.purge_user(store, "telegram", target)

        # No row in any table but audit mentions the target's platform id...
        assert rows_mentioning(store.db, target, skip=("audit",)) == []
        # ...and audit rows name them only by HMAC.
        assert rows_mentioning(store.db, target) == []
        target_hash = store.user_hash("telegram", target)
        assert store.db["audit"].count_where("user_hash = ?", [target_hash]) >= 1
        # None of their files remain, and no byte of the data dir (SQLite file included) names them.
        assert not any(store.media.exists(name) for name in target_files)
        store.close()
        assert scan_bytes(data_dir, target.encode()) == []
        # Other users are untouched.
        store = storage.open_store(make_settings(data_dir / "data"))
        for who, before in others.items():
            assert snapshot(store, who) == before
        store.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from zaobot import storage
    from tests.storage_helpers import make_settings
    step = sys.argv[1]
    store = storage.open_store(make_settings({data!r}))
    def crash(at):
        if at == step:
            os._exit(70)
    storage.purge_user(store, "telegram", "victim-424242", checkpoint=crash)
    os._exit(0)
""")


def seed(data_dir: Path, scratch: Path) -> set[str]:
    store = storage.open_store(make_settings(data_dir))
    for who in ("victim-424242", "bystander-1"):
        for op in ("consent", "selfie", "selfie", "output", "job", "report"):
            apply(store, op, who, scratch)
    files = set(snapshot(store, "victim-424242")["files"])
    store.close()
    return files


@pytest.mark.parametrize("step", STEPS)
def test_purge_killed_at_each_step_is_completed_at_start_up(tmp_path, step):
    data_dir = tmp_path / "data"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    victim_files = seed(data_dir, scratch)
    assert len(victim_files) == 2  # the latest selfie (only the latest is kept) and a clip
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), data=str(data_dir)))
    proc = subprocess.run([sys.executable, str(script), step], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ZAOBOT_SECRET_KEY": SECRET})
    assert proc.returncode == 70, proc.stderr

    store = storage.open_store(make_settings(data_dir))  # start-up resumes the purge
    try:
        assert store.db["deletions"].count_where("status = 'pending'") == 0
        tombstone = list(store.db["deletions"].rows)[-1]
        assert tombstone["status"] == "done" and tombstone["files"] is None
        assert rows_mentioning(store.db, "victim-424242") == []
        assert not any(store.media.exists(n) for n in victim_files)
        # No orphan file: every file on disk belongs to a row, and every row's file exists.
        referenced = {r["file"] for r in store.db["selfies"].rows}
        referenced |= {r["output_file"] for r in store.db["jobs"].rows if r["output_file"]}
        assert set(store.media.names()) == referenced
        # The bystander still has everything.
        assert len(snapshot(store, "bystander-1")["files"]) == 2  # latest selfie and clip
    finally:
        store.close()
    assert scan_bytes(data_dir, b"victim-424242") == []
