"""The one place plaintext media may touch the disk: an owner-only folder, `$ZAOBOT_DATA_DIR/tmp`.

Renders write their clip there before it is encrypted, delivery decrypts a clip there for the
upload, a moderator's /verify clip is read from there. Every file is 0600 in a 0700 folder and
carries the job id it belongs to in its name, so that:
* start-up removes everything (nothing can be in use before the workers start),
* the sweeper removes what is older than SCRATCH_MAX_AGE_S (a crash's leftovers),
* a user's /delete removes the files of that user's jobs, and its receipt counts them.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCRATCH_MAX_AGE_S = 3600.0  # far longer than any render or upload


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        return self.root

    def new_file(self, tag: str, suffix: str = ".mp4") -> Path:
        """An empty private (0600) file named after `tag` (a job id, or "warm", "verify")."""
        fd, path = tempfile.mkstemp(suffix=suffix, prefix=f"zaobot-{tag}-", dir=self._folder())
        os.close(fd)
        return Path(path)

    @contextmanager
    def holding(self, data: bytes, tag: str, suffix: str = ".mp4") -> Iterator[Path]:
        """`data` in a private file for the length of the block, then removed."""
        path = self.new_file(tag, suffix)
        try:
            path.write_bytes(data)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _files(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_file()] if self.root.is_dir() else []

    def tagged(self, tags: Iterable[str]) -> list[Path]:
        """The files of these jobs, render leftovers (`.part`) included."""
        wanted = [f"zaobot-{t}-" for t in tags if t]
        return [p for p in self._files() if any(w in p.name for w in wanted)]

    def remove(self, paths: Iterable[Path]) -> int:
        removed = 0
        for path in paths:
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def clear(self, older_than_s: float | None = None) -> int:
        """Remove every file (None), or those not modified for `older_than_s` seconds; returns how many."""
        now = time.time()
        stale = []
        for path in self._files():
            try:
                if older_than_s is None or now - path.stat().st_mtime > older_than_s:
                    stale.append(path)
            except FileNotFoundError:
                continue
        return self.remove(stale)
