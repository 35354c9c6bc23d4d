"""The event loop's way to storage: every call runs on one storage thread, never on the loop.

SQLite calls block: a write fsyncs, `add_selfie` encrypts and writes a file, a busy database
waits up to its busy timeout. On the event loop, each of those stalled every chat at once.
Here they run on a single dedicated thread with its own connection (SQLite serialises writes
anyway, so one thread loses nothing and keeps one connection warm), and the loop awaits them.
Storage functions stay plain functions of a `Store`; this only decides where they run.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from zaobot.storage.store import Store

P = ParamSpec("P")
T = TypeVar("T")


class StorageThread:
    """`await io(fn, *args)` runs `fn(store, *args)` on the storage thread and returns its result."""

    def __init__(self, store: Store) -> None:
        self._origin = store
        self._own: Store | None = None  # opened on the storage thread, used only there
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zaobot-storage")

    async def __call__(self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._run, fn, *args, **kwargs))

    @asynccontextmanager
    async def decrypted_file(self, name: str, tag: str) -> AsyncIterator[Path]:
        """`MediaStore.decrypted_file` with the decryption and the clean-up on the storage thread:
        a clip is up to 10 MB of AES-GCM and a file write, too long for the loop."""
        held = self._origin.media.decrypted_file(name, tag)
        path = await self(lambda _store: held.__enter__())
        try:
            yield path
        finally:
            await self(lambda _store: held.__exit__(None, None, None))

    def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        if self._own is None:
            self._own = self._origin.clone()
        return fn(self._own, *args, **kwargs)

    def close(self) -> None:
        """Close the thread's connection and stop the thread (waits for a call in progress)."""
        def close_own() -> None:
            if self._own is not None:
                self._own.close()
                self._own = None

        self._executor.submit(close_own).result()
        self._executor.shutdown(wait=True)
