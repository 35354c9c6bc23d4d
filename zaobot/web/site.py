"""The browser routes of `zaobot serve`: static files, the console, the playground (each when on)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from zaobot.config import Settings
from zaobot.handlers.core import Conversation

HERE = Path(__file__).resolve().parent


def _seconds_between(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "—"
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def templates() -> Jinja2Templates:
    """The package's templates (autoescaped), with the two filters the jobs table uses."""
    found = Jinja2Templates(directory=HERE / "templates")
    filters: dict[str, Any] = found.env.filters
    filters["wait"] = lambda job: _seconds_between(job["created_at"], job["started_at"])
    filters["render_time"] = lambda job: _seconds_between(job["started_at"], job["finished_at"])
    return found


def browser_routes(core: Conversation, settings: Settings) -> list[BaseRoute]:
    """Routes for the shared Starlette app; empty when neither the console nor the playground is on."""
    from zaobot.web.auth import ConsoleAuth
    from zaobot.web.console import ConsoleApp
    from zaobot.web.playground import Playground

    pages = templates()
    routes: list[BaseRoute] = []
    if settings.console_enabled:
        routes += ConsoleApp(core.moderation, ConsoleAuth(settings, core.store, core.io), pages).routes()
    if settings.playground:
        routes += Playground(core, pages).routes()
    if routes:
        routes.append(Mount("/web-static", StaticFiles(directory=HERE / "static"), name="web-static"))
    return routes
