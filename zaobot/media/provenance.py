"""C2PA provenance (optional): sign clips with the operator's certificate, and read the result back."""

from __future__ import annotations

from pathlib import Path

from zaobot.config import Settings


def c2pa_status(path: Path, settings: Settings) -> str:
    return "not configured (no operator certificate)"
