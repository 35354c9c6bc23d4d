"""Selfies and outputs on disk: encrypted (AES-256-GCM), written atomically, under random names.

A file's name is random and says nothing about its owner; the name is bound
into the ciphertext as associated data, so files can't be swapped unnoticed.
Plaintext only ever lives in memory, or in a private temp file removed after use.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zaobot.keys import derive_key
from zaobot.storage.scratch import Scratch

Kind = Literal["selfies", "outputs"]
MAGIC = b"ZBM1"
NONCE_BYTES = 12


class TamperedFile(Exception):
    """An encrypted file failed authentication (tampered, truncated or wrong key)."""


class MediaStore:
    def __init__(self, root: Path, secret: str) -> None:
        self.root = Path(root)
        self._aead = AESGCM(derive_key(secret, "media-at-rest"))
        # Plaintext never leaves the data dir: decrypted copies go to its private scratch folder.
        self.scratch = Scratch(self.root.parent / "tmp")

    def path(self, name: str) -> Path:
        kind, _, stem = name.partition("/")
        if kind not in ("selfies", "outputs") or not stem.isalnum():
            raise ValueError("not a media file name")
        return self.root / kind / stem

    def put(self, kind: Kind, data: bytes) -> str:
        """Encrypt and store `data`; returns its name ("kind/random")."""
        name = f"{kind}/{secrets.token_hex(16)}"
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        nonce = os.urandom(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, data, name.encode())
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def put_file(self, kind: Kind, source: Path) -> str:
        return self.put(kind, Path(source).read_bytes())

    def get(self, name: str) -> bytes:
        """Decrypt into memory; raises TamperedFile if the file was altered."""
        blob = self.path(name).read_bytes()
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            raise TamperedFile(name)
        nonce = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise TamperedFile(name) from None

    @contextmanager
    def decrypted_file(self, name: str, tag: str, suffix: str = ".mp4") -> Iterator[Path]:
        """The plaintext in a private (0600) scratch file named after `tag` (the job id, so a
        /delete meanwhile finds it), removed when the block ends."""
        with self.scratch.holding(self.get(name), tag, suffix) as path:
            yield path

    def delete(self, name: str) -> bool:
        """Remove a file; True if it existed. Idempotent, so purges can be resumed."""
        try:
            self.path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self) -> list[str]:
        out = []
        for kind in ("selfies", "outputs"):
            folder = self.root / kind
            if folder.is_dir():
                out += [f"{kind}/{p.name}" for p in folder.iterdir() if not p.name.startswith(".")]
        return sorted(out)
