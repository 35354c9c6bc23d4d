"""A process and its descendants (the bot and its render workers), from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def process_tree(root: int) -> dict[int, list[str]]:
    """{pid: the fields of /proc/pid/stat after the command name} for `root` and its descendants."""
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, fields in stats.items() if int(fields[1]) == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return {pid: stats[pid] for pid in tree if pid in stats}
