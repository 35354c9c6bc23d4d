"""The quality set's real photos and scenes (benchmarks/quality/), as tests load them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from zaobot.models.landmarks import FaceAnalyzer

QUALITY = Path(__file__).resolve().parents[1] / "benchmarks" / "quality"


def selfie_with_landmarks(name: str, folder: str = "selfies") -> tuple[np.ndarray, np.ndarray]:
    """(RGB, mesh landmarks (478, 2)) of the set's photo `name` (file stem)."""
    rgb = cv2.cvtColor(cv2.imread(str(QUALITY / folder / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    with FaceAnalyzer() as analyzer:
        return rgb, analyzer.landmarks(rgb, analyzer.detect(rgb)[0])
