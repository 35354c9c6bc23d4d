"""Face analysis and swap engines."""

from zaobot.models.engine import Engine, NullTimer, StageTimer
from zaobot.models.factory import create_engine

__all__ = ["Engine", "NullTimer", "StageTimer", "create_engine"]
