"""Where ZAOBOT_SECRET_KEY comes from: the settings, or (CLI and demo only) a generated file in
the data dir. The keys derived from it are in zaobot/keys.py, re-exported here.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from zaobot.keys import derive_key, user_hash

__all__ = ["MIN_SECRET_CHARS", "SecretKeyError", "derive_key", "resolve_secret", "user_hash"]

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 32
SECRET_FILE = "secret.key"


class SecretKeyError(RuntimeError):
    """ZAOBOT_SECRET_KEY is missing or too short."""


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
