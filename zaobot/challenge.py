"""The actions a live check may ask for, and drawing a challenge from them.

Here, below everything else, because the settings validate ZAOBOT_LIVENESS_ACTIONS against
the list, the conversation draws challenges from it and the analysis recognises each action.
"""

from __future__ import annotations

import random
from typing import Literal, get_args

Action = Literal["turn_left", "turn_right", "blink", "open_mouth"]
ACTIONS: tuple[Action, ...] = get_args(Action)
CHALLENGE_LENGTH = 2
CHALLENGE_SECONDS = 120  # a challenge is answered within this, or a new one is asked for


def parse_actions(raw: str) -> tuple[Action, ...]:
    """'blink, turn_left' -> ('blink', 'turn_left'), in that order, once each; ValueError naming unknown ones."""
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [n for n in names if n not in ACTIONS]
    if unknown or not names:
        raise ValueError(f"unknown live-check action(s) {unknown or raw!r}; choose from {', '.join(ACTIONS)}")
    return tuple(dict.fromkeys(a for n in names for a in ACTIONS if n == a))  # in the given order: a challenge's


def draw(allowed: tuple[Action, ...], rng: random.Random) -> tuple[Action, ...]:
    """A random order of CHALLENGE_LENGTH different allowed actions (fewer if fewer are allowed)."""
    return tuple(rng.sample(list(allowed), min(CHALLENGE_LENGTH, len(allowed))))
