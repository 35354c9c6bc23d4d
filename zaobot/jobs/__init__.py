"""Job runners: rendering happens here, never in the event loop."""

from zaobot.jobs.runner import JobRunner, RunnerHooks

__all__ = ["JobRunner", "RunnerHooks"]
