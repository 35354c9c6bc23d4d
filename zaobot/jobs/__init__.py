"""Job runners: rendering happens here, never in the event loop."""

from zaobot.jobs.runner import JobRunner, RunnerHooks, is_paused, set_paused

__all__ = ["JobRunner", "RunnerHooks", "is_paused", "set_paused"]
