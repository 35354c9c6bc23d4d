"""Keys derived from ZAOBOT_SECRET_KEY: media encryption, user hashes, watermarks.

One secret, separate keys per purpose (HKDF with distinct `info`), so a key
leaked from one use tells nothing about another.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 32
SECRET_FILE = "secret.key"


class SecretKeyError(RuntimeError):
    """ZAOBOT_SECRET_KEY is missing or too short."""


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=b"zaobot/v1", info=purpose.encode())
    return hkdf.derive(secret.encode())


def user_hash(secret: str, platform: str, platform_user_id: str) -> str:
    """HMAC-SHA256 of "platform:user_id": how audit rows and bans refer to a person."""
    key = derive_key(secret, "user-hash")
    return hmac.new(key, f"{platform}:{platform_user_id}".encode(), hashlib.sha256).hexdigest()


def resolve_secret(configured: str | None, data_dir: Path, *, require: bool) -> str:
    """The secret to use. `serve` (require=True) insists on a configured one; the CLI and
    demo may generate one into the data dir, with a warning."""
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise SecretKeyError(f"ZAOBOT_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters")
        return configured
    if require:
        raise SecretKeyError(
            "ZAOBOT_SECRET_KEY is not set. Generate one with: "
            "python -c \"import secrets; print(secrets.token_urlsafe(48))\""
        )
    path = Path(data_dir) / SECRET_FILE
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    log.warning("ZAOBOT_SECRET_KEY is not set: generated one in %s (set it explicitly in production)", path)
    return value
