"""Pick and build the swap engine named by settings."""

from __future__ import annotations

import logging
from pathlib import Path

from zaobot.config import Settings
from zaobot.models.engine import Engine

log = logging.getLogger(__name__)



def inswapper_available(models_dir: Path) -> bool:
    from zaobot.models.inswapper import model_paths

    swapper, arcface = model_paths(models_dir)
    return swapper.is_file() and arcface is not None


def create_engine(settings: Settings) -> Engine:
    """`mesh`, `inswapper`, or `auto` (inswapper when its model files exist and load, else mesh)."""
    choice = settings.engine
    if choice == "inswapper" or (choice == "auto" and inswapper_available(settings.models_dir)):
        from zaobot.models.inswapper import InswapperEngine
        from zaobot.models.onnx_session import ModelError

        try:
            engine = InswapperEngine(settings)
            log.info("engine: inswapper on %s (batch %d), models from %s", engine.provider, engine.batch_size,
                     settings.models_dir)
            return engine
        except ModelError as err:
            if choice == "inswapper":
                raise
            log.warning("inswapper models found but unusable (%s); using the mesh engine", err)
    from zaobot.models.mesh import MeshEngine

    log.info("engine: mesh (embedded, CPU, no downloaded weights)")
    return MeshEngine(min_face_px=settings.min_face_px)
