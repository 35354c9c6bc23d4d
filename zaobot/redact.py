"""Secrets never reach the logs, whatever logs them: a filter on the log handlers.

Third-party code logs what it likes at DEBUG (PTB logs the Bot API URL, which carries the bot
token; httpx logs request URLs at INFO). Rather than chase each logger, every record is
rendered and scrubbed of the configured secret values before a handler writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MIN_SECRET_CHARS = 6  # shorter values would scrub ordinary words

MASK = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = message
        for secret in self._secrets:
            clean = clean.replace(secret, MASK)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, MASK)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(secrets: Iterable[str]) -> None:
    """Scrub `secrets` from everything the root logger's handlers write."""
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
