"""The SQLite file: connection settings, the schema in one place, forward migrations.

WAL lets the bot and a render worker write at once; `busy_timeout` makes a
writer wait for the lock instead of failing with "database is locked";
`secure_delete` overwrites deleted rows, so a purged user's data does not
linger in free pages of the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

DB_NAME = "zaobot.sqlite3"
BUSY_TIMEOUT_MS = 10_000


def _v1(db: sqlite_utils.Database) -> None:
    db.table("users").create(
        {"id": int, "platform": str, "platform_user_id": str, "first_seen": str, "language": str,
         "banned": int, "ban_reason": str},
        pk="id", not_null={"platform", "platform_user_id", "first_seen"}, defaults={"banned": 0},
    )
    db.table("users").create_index(["platform", "platform_user_id"], unique=True)
    db.table("consents").create(
        {"id": int, "user_id": int, "platform": str, "version": str, "text_hash": str,
         "granted_at": str, "revoked_at": str},
        pk="id", foreign_keys=[("user_id", "users", "id")], not_null={"user_id", "version", "granted_at"},
    )
    db.table("selfies").create(
        {"id": int, "user_id": int, "file": str, "created_at": str, "expires_at": str},
        pk="id", foreign_keys=[("user_id", "users", "id")], not_null={"user_id", "file", "created_at", "expires_at"},
    )
    db.table("jobs").create(
        {"id": str, "user_id": int, "selfie_id": int, "scene": str, "status": str, "created_at": str,
         "started_at": str, "finished_at": str, "error": str, "output_file": str, "output_expires_at": str,
         "watermark_id": str, "chat_id": str, "platform": str, "language": str, "status_message": str,
         "delivery": str, "attempts": int},
        pk="id", foreign_keys=[("user_id", "users", "id")], not_null={"user_id", "scene", "status", "created_at"},
        defaults={"attempts": 0},
    )
    db.table("jobs").create_index(["user_id"])
    db.table("jobs").create_index(["status"])
    db.table("reports").create(
        {"id": int, "reporter_id": int, "job_id": str, "reason": str, "status": str, "created_at": str,
         "resolved_at": str, "resolved_by": str},
        pk="id", foreign_keys=[("reporter_id", "users", "id")], not_null={"status", "created_at"},
    )
    db.table("takedowns").create(
        {"id": int, "job_id": str, "watermark_id": str, "reason": str, "moderator_hash": str, "created_at": str},
        pk="id", not_null={"job_id", "created_at"},
    )
    # Bans are keyed by the user hash, so a ban outlives the user's own /delete.
    db.table("bans").create(
        {"id": int, "user_hash": str, "platform": str, "reason": str, "moderator_hash": str, "created_at": str,
         "lifted_at": str},
        pk="id", not_null={"user_hash", "created_at"},
    )
    db.table("bans").create_index(["user_hash"])
    db.table("deletions").create(
        {"id": int, "user_hash": str, "platform": str, "user_row_id": int, "reason": str, "status": str,
         "requested_at": str, "completed_at": str, "step": str, "files": str, "counts": str, "scrub": str},
        pk="id", not_null={"user_hash", "status", "requested_at"},
    )
    db.table("audit").create(
        {"id": int, "at": str, "action": str, "job_id": str, "watermark_id": str, "scene": str, "user_hash": str,
         "actor_hash": str, "detail": str},
        pk="id", not_null={"at", "action"},
    )
    # Operator switches shared by the bot and the workers (e.g. "paused").
    db.table("flags").create({"key": str, "value": str, "updated_at": str}, pk="key")
    db.table("audit").create_index(["job_id"])
    db.table("audit").create_index(["watermark_id"])
    db.table("audit").create_index(["user_hash"])


def _v2(db: sqlite_utils.Database) -> None:
    # Webhook deliveries seen lately (WeChat MsgIds, signature nonces): kept across restarts so a
    # retry or a replay after a restart is still recognised. Keys are opaque; rows live minutes.
    db.table("seen_requests").create({"key": str, "seen_at": str}, pk="key", not_null={"seen_at"})
    db.table("seen_requests").create_index(["seen_at"])


def _v3(db: sqlite_utils.Database) -> None:
    # Updates being handled: a platform considers an update delivered once fetched, so a crash in
    # mid-handling would lose it. Each is held here until answered and replayed at start-up. The
    # payload names the user, so rows go with the user's /delete (by hash) and after an hour.
    db.table("inbox").create({"key": str, "platform": str, "user_hash": str, "payload": str, "received_at": str},
                             pk="key", not_null={"platform", "payload", "received_at"})
    db.table("inbox").create_index(["user_hash"])


def _v4(db: sqlite_utils.Database) -> None:
    # Each user's one-way hash, stored, so `zaobot verify` finds the user behind an audit row in one
    # indexed lookup instead of hashing every user. Filled for existing users when the store opens
    # (the key is not known here): users.backfill_user_hashes.
    db.table("users").add_column("user_hash", str)
    db.table("users").create_index(["user_hash"])


def _v5(db: sqlite_utils.Database) -> None:
    # The live check. A challenge is what the user was asked to do on camera, and for which selfie;
    # a selfie's `liveness` holds the passed check's result (method, time, scores: never a descriptor
    # or landmarks), and a job copies it, so the audit row of its render carries it too.
    db.table("challenges").create(
        {"id": str, "user_id": int, "selfie_id": int, "actions": str, "scene": str, "issued_at": str,
         "expires_at": str, "status": str, "closed_at": str},
        pk="id", foreign_keys=[("user_id", "users", "id")],
        not_null={"user_id", "actions", "issued_at", "expires_at", "status"},
    )
    db.table("challenges").create_index(["user_id"])
    db.table("selfies").add_column("liveness", str)
    db.table("jobs").add_column("liveness", str)


def _v6(db: sqlite_utils.Database) -> None:
    # The web console. A sign-in link is one-time and short-lived; a session lasts a working day.
    # Both are stored as SHA-256 digests of their tokens (a copy of the file signs nobody in), and
    # name the moderator only by hash. A job records the engine that rendered it (the console's jobs).
    db.table("console_links").create(
        {"token_hash": str, "platform": str, "actor_hash": str, "created_at": str, "expires_at": str, "used_at": str},
        pk="token_hash", not_null={"platform", "actor_hash", "created_at", "expires_at"},
    )
    db.table("console_sessions").create(
        {"token_hash": str, "platform": str, "actor_hash": str, "csrf": str, "created_at": str, "expires_at": str},
        pk="token_hash", not_null={"platform", "actor_hash", "csrf", "created_at", "expires_at"},
    )
    db.table("jobs").add_column("engine", str)
    db.table("audit").create_index(["action", "at"])  # failed sign-ins, clip views: counted by time
    db.table("audit").create_index(["actor_hash"])  # the console's audit search by a moderator's hash


# Forward migrations, applied in order at start-up. Never edit a released one: append.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
SCHEMA_VERSION = len(MIGRATIONS)


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")


def schema_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in its own transaction; returns the schema version."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {current} is newer than this zaobot ({SCHEMA_VERSION})")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(db):
            if schema_version(db) >= version:  # another process got there first
                continue
            MIGRATIONS[version - 1](db)
            db.conn.execute(f"PRAGMA user_version = {version}")
    return schema_version(db)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes can fail at once with
    SQLITE_BUSY when another process wrote in between; an immediate one waits
    for `busy_timeout` instead. sqlite-utils calls inside nest as savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def connect(data_dir: Path) -> sqlite_utils.Database:
    """Open (and migrate) the database in `data_dir`."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / DB_NAME, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    _configure(conn)
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


class DatabaseDamaged(RuntimeError):
    """The SQLite file is corrupt: serving on it would fail every update, silently to the users."""


def check_integrity(db: sqlite_utils.Database) -> None:
    """`PRAGMA quick_check` (every page and index, in a few ms for a small file); DatabaseDamaged if not ok."""
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as err:
        raise DatabaseDamaged(str(err)) from None
    if rows != ["ok"]:
        raise DatabaseDamaged("; ".join(rows[:3]))


def checkpoint(db: sqlite_utils.Database) -> None:
    """Fold the WAL into the main file and truncate it, so deleted pages leave no copy behind."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
