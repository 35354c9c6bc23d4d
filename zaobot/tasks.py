"""Ending background tasks on Python 3.11, where one `cancel()` is not always enough.

Python 3.11's `asyncio.wait_for` returns its inner result, and drops the cancellation, when the
cancel lands just as the inner future completes (fixed in 3.12). redis-py wraps every command's
socket write in `wait_for` (its default socket timeout is 5 s), so a watcher loop around a
Redis call can survive the one cancel that `stop` sends and loop forever: `zaobot serve` then
never exits, and a test that stops a runner hangs (seen: a BrokerRunner stopped just after its
start hung every time). `end_tasks` cancels again until the tasks have ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

FIRST_GRACE_S = 1.0  # the first cancel is given this long: a task's own async clean-up runs undisturbed ...
RECANCEL_S = 0.2  # ... then the ones still running are cancelled again this often


async def end_tasks(tasks: Iterable[asyncio.Task], grace_s: float = 10.0) -> None:
    """Cancel `tasks` and wait until each has ended: FIRST_GRACE_S for the first cancel, then
    cancelling those still running again every RECANCEL_S (a cancel being handled can't be told
    from a lost one on 3.11). After `grace_s` the stragglers are logged and left: a shutdown must
    finish."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    wait = FIRST_GRACE_S
    try:
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=wait)
            wait = RECANCEL_S
            if pending and loop.time() > deadline:
                log.warning("tasks still running after %.0f s of cancelling: %s", grace_s,
                            ", ".join(sorted(task.get_name() for task in pending)))
                return
    finally:
        for task in tasks:  # retrieve their outcomes, so that asyncio logs no "exception never retrieved"
            if task.done() and not task.cancelled():
                task.exception()
