"""The storage bundle every repository function takes: database, media files, secret, settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlite_utils

from zaobot.config import Settings
from zaobot.keys import user_hash
from zaobot.storage.db import connect
from zaobot.storage.keys import resolve_secret
from zaobot.storage.media import MediaStore


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def later(moment: datetime, *, hours: float = 0, days: float = 0) -> str:
    return iso(moment + timedelta(hours=hours, days=days))


@dataclass
class Store:
    db: sqlite_utils.Database
    media: MediaStore
    secret: str
    settings: Settings

    def user_hash(self, platform: str, platform_user_id: str) -> str:
        return user_hash(self.secret, platform, str(platform_user_id))

    def close(self) -> None:
        self.db.close()

    def clone(self) -> Store:
        """The same store on a connection of its own, for work on another thread: a shared
        connection would let one thread's statements run inside another thread's transaction."""
        return replace(self, db=connect(self.settings.data_dir))


T = TypeVar("T")


async def in_thread(store: Store, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run fn(store', ...) on a worker thread with its own connection, keeping the event loop free."""

    def run() -> T:
        own = store.clone()
        try:
            return fn(own, *args, **kwargs)
        finally:
            own.close()

    return await asyncio.to_thread(run)


def open_store(settings: Settings, *, require_secret: bool = False) -> Store:
    """Open the data dir: migrate the schema and finish any purge a crash interrupted."""
    from zaobot.storage.purge import resume_pending_deletions
    from zaobot.storage.users import backfill_user_hashes

    secret = resolve_secret(
        settings.secret_key.get_secret_value() if settings.secret_key else None,
        settings.data_dir, require=require_secret,
    )
    store = Store(db=connect(settings.data_dir), media=MediaStore(settings.data_dir / "media", secret),
                  secret=secret, settings=settings)
    backfill_user_hashes(store)
    resume_pending_deletions(store)
    return store
