"""Helpers shared by the storage tests (also run inside child processes)."""

from __future__ import annotations

from pathlib import Path

from zaobot.config import Settings

SECRET = "test-secret-" + "x" * 40


def make_settings(data_dir: Path, **overrides) -> Settings:
    return Settings(**{"data_dir": data_dir, "secret_key": SECRET, **overrides})


def scan_bytes(root: Path, needle: bytes) -> list[Path]:
    """Every file under root whose bytes contain `needle`."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def rows_mentioning(db, needle: str, skip: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    hits = []
    for table in db.table_names():
        if table in skip:
            continue
        for row in db[table].rows:
            if any(needle in str(v) for v in row.values()):
                hits.append((table, row))
    return hits
