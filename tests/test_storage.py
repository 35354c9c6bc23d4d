"""Storage promises: consent first, encryption at rest, retention, takedown, receipts, concurrency."""

from __future__ import annotations

import json
import multiprocessing
from datetime import timedelta

import pytest

from zaobot import storage
from zaobot.consent import consent_hash
from zaobot.handlers.receipts import receipt_text
from zaobot.storage.db import SCHEMA_VERSION, schema_version
from zaobot.storage.keys import SecretKeyError, resolve_secret
from zaobot.storage.store import utcnow

from tests.conftest import jpeg_bytes
from tests.storage_helpers import make_settings, scan_bytes


@pytest.fixture()
def store(tmp_path):
    st = storage.open_store(make_settings(tmp_path / "data"))
    yield st
    st.close()


def test_schema_is_migrated_with_wal_and_foreign_keys(store):
    assert schema_version(store.db) == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    columns = {c.name for t in store.db.table_names() for c in store.db[t].columns}
    assert not {"embedding", "landmarks", "face"} & columns


def test_no_user_row_before_consent_and_versioned_consent(tmp_path):
    st = storage.open_store(make_settings(tmp_path / "d"))
    assert storage.find_user(st, "telegram", "42") is None
    assert storage.current_consent(st, "telegram", "42") is None
    assert st.db["users"].count == 0
    user = storage.grant_consent(st, "telegram", "42", language="zh")
    assert user["language"] == "zh"
    consent = storage.current_consent(st, "telegram", "42")
    assert consent["text_hash"] == consent_hash(st.settings) and consent["revoked_at"] is None
    assert storage.revoke_consent(st, "telegram", "42")
    assert storage.current_consent(st, "telegram", "42") is None
    storage.grant_consent(st, "telegram", "42")
    assert storage.current_consent(st, "telegram", "42") is not None
    st.close()
    # A changed consent text (here: a different retention time quoted in it) needs fresh consent.
    st2 = storage.open_store(make_settings(tmp_path / "d", selfie_ttl_hours=48))
    assert storage.current_consent(st2, "telegram", "42") is None
    st2.close()


def test_media_encrypted_at_rest_and_tamper_detected(store, astronaut):
    user = storage.grant_consent(store, "telegram", "777000111")
    selfie = jpeg_bytes(astronaut)
    sid = storage.add_selfie(store, user["id"], selfie)
    name = store.db["selfies"].get(sid)["file"]
    path = store.media.path(name)
    raw = path.read_bytes()
    assert b"\xff\xd8\xff" not in raw[:64]
    assert selfie[2000:2064] not in raw
    assert "777000111" not in str(path)
    assert store.media.get(name) == selfie
    with store.media.decrypted_file(name, "job1", ".jpg") as tmp:
        assert tmp.read_bytes() == selfie
        assert (tmp.stat().st_mode & 0o777) == 0o600
    assert not tmp.exists()
    tampered = bytearray(raw)
    tampered[100] ^= 0x01
    path.write_bytes(bytes(tampered))
    with pytest.raises(storage.TamperedFile):
        store.media.get(name)


def test_secret_required_in_serve_mode(tmp_path):
    with pytest.raises(SecretKeyError):
        resolve_secret(None, tmp_path, require=True)
    with pytest.raises(SecretKeyError):
        resolve_secret("short", tmp_path, require=False)
    generated = resolve_secret(None, tmp_path, require=False)
    assert len(generated) >= 32 and resolve_secret(None, tmp_path, require=False) == generated
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def _job_with_output(store, tmp_path, user_id, now=None, scene="demo"):
    job = storage.create_job(store, user_id, scene, now=now)
    clip = tmp_path / f"{job['id']}.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"clip" * 100)
    storage.attach_output(store, job, store.user_hash("telegram", "1"), clip, now=now)
    return storage.get_job(store, job["id"])


def test_retention_sweeper(store, tmp_path):
    user = storage.grant_consent(store, "telegram", "1")
    old = utcnow() - timedelta(hours=30)
    other = storage.grant_consent(store, "telegram", "2")  # one selfie per user is kept: the old one is another's
    sid_old = storage.add_selfie(store, other["id"], b"old selfie", now=old)
    sid_new = storage.add_selfie(store, user["id"], b"new selfie")
    old_job = _job_with_output(store, tmp_path, user["id"], now=old)
    new_job = _job_with_output(store, tmp_path, user["id"])
    storage.audit(store, "render", job_id="ancient", now=utcnow() - timedelta(days=200))
    old_selfie_file = store.db["selfies"].get(sid_old)["file"]

    result = storage.sweep(store)
    assert (result.selfies, result.outputs, result.audit) == (1, 1, 1)
    assert not store.media.exists(old_selfie_file)
    assert not store.media.exists(old_job["output_file"])
    assert store.db["selfies"].count_where("id = ?", [sid_old]) == 0
    assert store.db["selfies"].count_where("id = ?", [sid_new]) == 1
    assert store.media.exists(new_job["output_file"])
    assert store.db["audit"].count_where("job_id = 'ancient'") == 0
    assert store.db["audit"].count_where("job_id = ?", [new_job["id"]]) == 2  # queued, rendered


def test_orphan_files_are_swept(store):
    name = store.media.put("outputs", b"left behind by a crash")
    assert storage.sweep(store).orphans == 0  # too young: its row may be on the way
    assert storage.sweep(store, now=utcnow() + timedelta(hours=2)).orphans == 1
    assert not store.media.exists(name)


def test_takedown_deletes_output_and_blocks_delivery(store, tmp_path):
    user = storage.grant_consent(store, "telegram", "1")
    job = _job_with_output(store, tmp_path, user["id"])
    assert storage.deliverable(store, job["id"])
    storage.takedown(store, job["id"], reason="impersonation", moderator_hash="mod")
    after = storage.get_job(store, job["id"])
    assert after["status"] == "taken_down" and after["output_file"] is None
    assert not store.media.exists(job["output_file"])
    assert not storage.deliverable(store, job["id"])
    row = store.db["takedowns"].get(1)
    assert row["watermark_id"] == job["watermark_id"]
    actions = [r["action"] for r in store.db["audit"].rows]
    assert "moderator:takedown" in actions
    again = storage.takedown(store, job["id"], reason="second click", moderator_hash="mod2")
    assert again is not None and again["status"] == "taken_down"
    assert store.db["takedowns"].count == 1 and store.db["takedowns"].get(1)["reason"] == "impersonation"
    assert [r["action"] for r in store.db["audit"].rows].count("moderator:takedown") == 1


def test_a_report_is_resolved_once(store, tmp_path):
    user = storage.grant_consent(store, "telegram", "1")
    job = _job_with_output(store, tmp_path, user["id"])
    report_id = storage.report(store, user["id"], job["id"], "not me")
    assert storage.resolve_report(store, report_id, moderator_hash="a")
    assert not storage.resolve_report(store, report_id, moderator_hash="b")  # the second click: nothing new
    assert not storage.resolve_report(store, 999, moderator_hash="b")
    rows = [r for r in store.db["audit"].rows if r["action"] == "moderator:resolve"]
    assert len(rows) == 1 and rows[0]["actor_hash"] == "a"
    assert store.db["reports"].get(report_id)["resolved_by"] == "a"


def test_bans_survive_the_users_own_delete(store):
    storage.grant_consent(store, "wechat", "oABC")
    storage.ban(store, "wechat", "oABC", reason="abuse", moderator_hash="m")
    assert storage.is_banned(store, "wechat", "oABC")
    storage.purge_user(store, "wechat", "oABC")
    assert storage.is_banned(store, "wechat", "oABC")
    assert storage.unban(store, "wechat", "oABC", moderator_hash="m")
    assert not storage.is_banned(store, "wechat", "oABC")


def test_receipt_is_generated_from_actual_counts(store, tmp_path):
    user = storage.grant_consent(store, "telegram", "1")
    for data in (b"a", b"b"):
        storage.add_selfie(store, user["id"], data)
    _job_with_output(store, tmp_path, user["id"])
    storage.create_job(store, user["id"], "demo")  # still queued: will be cancelled
    storage.report(store, user["id"], None, "spam")
    cancelled = []
    receipt = storage.purge_user(store, "telegram", "1", on_cancel=cancelled.extend)
    assert receipt.removed == {"profile": 1, "selfies": 1, "clips": 1, "jobs": 2, "consents": 1, "reports": 1,
                               "cancelled_jobs": 1, "temp_files": 0}  # of the two selfies only the latest was kept
    assert len(cancelled) == 1
    en, zh = receipt_text(receipt, "en"), receipt_text(receipt, "zh")
    assert "1 selfie(s)" in en and "1 clip(s)" in en and "2 job record(s)" in en and "1 cancelled" in en
    assert "自拍 1 张" in zh and "视频 1 个" in zh
    # Two "job queued" rows (the hourly limit), one render row and the deletion's own row remain,
    # keyed by the hash only.
    assert receipt.audit_rows_kept == 4 and "4 audit record(s)" in en
    assert receipt.audit_kept_until[:4] in en
    assert storage.purge_user(store, "telegram", "1").removed["selfies"] == 0  # idempotent


def test_export_lists_media_without_content(store, tmp_path):
    user = storage.grant_consent(store, "telegram", "99")
    storage.add_selfie(store, user["id"], b"SECRET-SELFIE-BYTES")
    job = _job_with_output(store, tmp_path, user["id"])
    data = json.loads(storage.export_json(store, "telegram", "99"))
    assert data["profile"]["first_seen"]
    assert data["selfies"][0]["stored"] == "encrypted" and data["selfies"][0]["expires_at"]
    assert data["jobs"][0]["job_id"] == job["id"] and data["jobs"][0]["clip"]["expires_at"]
    assert "SECRET-SELFIE-BYTES" not in json.dumps(data)
    assert "selfies/" not in json.dumps(data)  # internal file names are not exported


def _writer(data_dir: str, tag: str, count: int, errors) -> None:
    from zaobot.storage.db import connect, transaction

    db = connect(__import__("pathlib").Path(data_dir))
    try:
        for i in range(count):
            with transaction(db):
                db["audit"].insert({"at": f"2026-01-01T00:00:{i % 60:02d}", "action": tag, "detail": "{}"})
                db.execute("SELECT COUNT(*) FROM audit").fetchone()
    except Exception as exc:  # noqa: BLE001
        errors.put(repr(exc))


def test_two_processes_writing_at_once_do_not_lock(tmp_path):
    from zaobot.storage.db import connect

    connect(tmp_path).close()
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), tag, 300, errors)) for tag in ("bot", "worker")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert errors.empty(), errors.get()
    db = connect(tmp_path)
    assert db["audit"].count_where("action = 'bot'") == 300
    assert db["audit"].count_where("action = 'worker'") == 300


def test_cli_purge_export_sweep_stats(tmp_path):
    import subprocess
    import sys

    from tests.storage_helpers import SECRET

    env = {**__import__("os").environ, "ZAOBOT_DATA_DIR": str(tmp_path / "data"), "ZAOBOT_SECRET_KEY": SECRET}
    st = storage.open_store(make_settings(tmp_path / "data"))
    user = storage.grant_consent(st, "telegram", "5551234")
    storage.add_selfie(st, user["id"], b"x")
    st.close()

    def zb(*args):
        return subprocess.run([sys.executable, "-m", "zaobot", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    exported = zb("export-user", "telegram:5551234")
    assert exported.returncode == 0 and json.loads(exported.stdout)["selfies"]
    assert "users                1" in zb("stats").stdout
    purged = zb("purge-user", "telegram:5551234", "--yes")
    assert purged.returncode == 0 and "1 selfie(s)" in purged.stdout
    assert "selfies=0" in zb("sweep").stdout
    assert scan_bytes(tmp_path / "data", b"5551234") == []


def test_plaintext_temp_files_stay_in_the_private_folder_and_every_cleaner_removes_them(store, tmp_path):
    """Decrypted copies go to $DATA_DIR/tmp (0700, files 0600); the sweeper removes old ones, a /delete
    the ones of the user's jobs (and its receipt counts them)."""
    import os
    import time as _time

    scratch_dir = store.settings.data_dir / "tmp"
    user = storage.grant_consent(store, "telegram", "31337")
    job = _job_with_output(store, tmp_path, user["id"])
    with store.media.decrypted_file(job["output_file"], job["id"]) as path:
        assert path.parent == scratch_dir and job["id"] in path.name
        assert (scratch_dir.stat().st_mode & 0o777) == 0o700 and (path.stat().st_mode & 0o777) == 0o600
    assert not path.exists()

    other = storage.grant_consent(store, "telegram", "42")
    other_job = storage.create_job(store, other["id"], "demo")
    old = store.media.scratch.new_file("crashed-long-ago")
    past = _time.time() - 2 * 3600
    os.utime(old, (past, past))
    young = store.media.scratch.new_file(other_job["id"])
    assert storage.sweep(store).scratch == 1
    assert not old.exists() and young.exists()

    rendering = store.media.scratch.new_file(job["id"])  # a render in progress, with its .part
    part = scratch_dir / f".{rendering.name}.123.part"
    part.write_bytes(b"plaintext clip")
    receipt = storage.purge_user(store, "telegram", "31337")
    assert receipt.removed["temp_files"] == 2 and "2 temporary file(s)" in receipt_text(receipt, "en")
    assert not rendering.exists() and not part.exists()
    assert young.exists()  # another user's file is left alone


def test_the_queue_claims_oldest_first_counts_positions_and_requeues(store):
    from zaobot.storage import queue
    from zaobot.storage.jobs import JobStatus

    user = storage.grant_consent(store, "telegram", "1")
    first = storage.create_job(store, user["id"], "demo", now=utcnow() - timedelta(seconds=10))
    second = storage.create_job(store, user["id"], "demo")
    assert queue.position(store, first["id"]) == 1 and queue.position(store, second["id"]) == 2
    claimed = queue.claim_next(store)
    assert claimed["id"] == first["id"] and claimed["status"] == JobStatus.RUNNING == "running"
    assert claimed["attempts"] == 1 and [j["id"] for j in queue.active(store)] == [first["id"], second["id"]]
    assert [j["id"] for j in queue.interrupted(store)] == [first["id"]]
    queue.requeue(store, first["id"])
    assert storage.get_job(store, first["id"])["status"] == "queued"
    assert not queue.is_paused(store)
    queue.set_paused(store, True)
    assert queue.is_paused(store)
    assert queue.position(store, "gone") == 0


def test_verify_finds_the_user_behind_a_hash_in_one_lookup(tmp_path):
    """Each user's one-way hash is stored (schema v4), so `verify` never hashes every user; users
    from before the column are filled in when the store opens."""
    from zaobot.storage.trace import user_state

    settings = make_settings(tmp_path / "d")
    st = storage.open_store(settings)
    storage.grant_consent(st, "telegram", "42")
    storage.grant_consent(st, "wechat", "o-abc")
    wanted = st.user_hash("telegram", "42")
    # A user row as schema v3 left it: no stored hash.
    st.db.execute("UPDATE users SET user_hash = NULL WHERE platform_user_id = '42'")
    st.db.conn.commit()
    st.close()

    st = storage.open_store(settings)  # the backfill runs here
    try:
        assert st.db["users"].count_where("user_hash IS NULL") == 0
        stored = st.db.execute("SELECT user_hash FROM users WHERE platform_user_id = '42'").fetchone()[0]
        assert stored == wanted

        def no_hashing(*args: object) -> str:
            raise AssertionError("verify must not hash users to find one")

        st.user_hash = no_hashing  # type: ignore[method-assign]  # the lookup alone must answer
        assert user_state(st, wanted) == "exists"
        assert user_state(st, "0" * 64) == "unknown"
    finally:
        st.close()
    st = storage.open_store(settings)
    try:
        storage.purge_user(st, "telegram", "42")
        assert user_state(st, wanted) == "deleted"
    finally:
        st.close()
