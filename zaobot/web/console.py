"""`/console`: the moderators' web console (reports, queue and jobs, plots, verify, audit search).

Every action goes through `Moderation`, the same code as the chat commands, and is audited with
the moderator's hash. Pages are rendered on the server; forms post back and redirect (no script
needed), except the clip upload of Verify, which a few lines of script send as the raw body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from zaobot import storage
from zaobot.config import Settings
from zaobot.handlers.moderation import Moderation
from zaobot.handlers.webhook_body import BodyTooLarge, read_capped
from zaobot.media.video import UnreadableVideo
from zaobot.storage import console, overview, queue
from zaobot.storage.console import ConsoleSession
from zaobot.storage.overview import JobTiming
from zaobot.storage.store import utcnow
from zaobot.web.auth import SESSION_COOKIE, SIGNIN_COOKIE, TOKEN_PLATFORM, ConsoleAuth, same_text
from zaobot.web.forms import read_form
from zaobot.web.plots import bar_chart, line_chart, reasons_chart, summarise
from zaobot.web.ranges import bytes_response
from zaobot.web.security import hex_id

# What a redirect after an action says (only these keys: nothing from the query is echoed).
NOTES = {
    "resolved": "Report resolved.", "taken_down": "Clip taken down; its reports are resolved.",
    "banned": "Author banned and clip taken down.", "gone": "Nothing to do: it is already gone.",
    "paused": "Queue paused: new renders are refused, queued ones wait.", "resumed": "Queue resumed.",
    "unbanned": "Ban lifted: they can use the bot again.",
}


@dataclass
class ConsoleApp:
    """The console's routes over the moderation actions, the storage thread and the templates."""

    moderation: Moderation
    auth: ConsoleAuth
    templates: Jinja2Templates

    @property
    def settings(self) -> Settings:
        return self.auth.settings

    def routes(self) -> list[BaseRoute]:
        a = self.auth
        return [
            Route("/console", a.guard("page", self.home)),
            Route("/console/login", self.login_page, methods=["GET"]),
            Route("/console/login", self.login_with_token, methods=["POST"]),
            Route("/console/signin", self.signin_page, methods=["GET"]),
            Route("/console/signin", self.signin_with_link, methods=["POST"]),
            Route("/console/logout", a.guard("action", self.logout), methods=["POST"]),
            Route("/console/reports", a.guard("page", self.reports)),
            Route("/console/reports/{report_id:int}/resolve", a.guard("action", self.resolve), methods=["POST"]),
            Route("/console/jobs/{job_id}/takedown", a.guard("action", self.takedown), methods=["POST"]),
            Route("/console/jobs/{job_id}/ban", a.guard("action", self.ban), methods=["POST"]),
            Route("/console/clips/{job_id}", a.guard("data", self.clip)),
            Route("/console/jobs", a.guard("page", self.jobs)),
            Route("/console/bans", a.guard("page", self.bans)),
            Route("/console/bans/{user_hash}/lift", a.guard("action", self.lift_ban), methods=["POST"]),
            Route("/console/queue/pause", a.guard("action", self.pause), methods=["POST"]),
            Route("/console/queue/resume", a.guard("action", self.resume), methods=["POST"]),
            Route("/console/plots", a.guard("page", self.plots)),
            Route("/console/verify", a.guard("page", self.verify_page), methods=["GET"]),
            Route("/console/verify", a.guard("action", self.verify), methods=["POST"]),
            Route("/console/audit", a.guard("page", self.audit)),
        ]

    def _page(self, request: Request, name: str, session: ConsoleSession | None, status: int = 200,
              **context: object) -> HTMLResponse:
        note = NOTES.get(request.query_params.get("note", ""))
        return self.templates.TemplateResponse(request, name, {"session": session, "note": note, **context},
                                               status_code=status)

    # ---------------------------------------------------------------- signing in and out

    async def home(self, request: Request, session: ConsoleSession) -> Response:
        return RedirectResponse("/console/reports", status_code=303)

    def _signin_form(self, request: Request, name: str, status: int = 200, **context: object) -> Response:
        token = self.auth.signin_token(request)
        response = self._page(request, name, None, status, signin_csrf=token,
                              token_signin=self.settings.console_token is not None, **context)
        self.auth.remember_signin_token(response, token, request)
        return response

    async def login_page(self, request: Request) -> Response:
        return self._signin_form(request, "login.html", next=_local(request.query_params.get("next")))

    async def signin_page(self, request: Request) -> Response:
        """The link from the bot lands here. Signing in takes a button press (a POST): link previews
        and scanners that open the link must not use it up."""
        return self._signin_form(request, "signin.html", link_token=request.query_params.get("token", ""))

    async def login_with_token(self, request: Request) -> Response:
        actor = self.auth.token_actor()
        if actor is None:
            return PlainTextResponse("Sign-in with a token is off: send /console to the bot.", status_code=404)
        form = await read_form(request)
        if not self.auth.signin_form_ok(request, form.get("signin_csrf", "")):
            return PlainTextResponse("This form has expired: reload the page and try again.", status_code=403)
        address = request.client.host if request.client else "?"
        target = _local(form.get("next", "")) or "/console/reports"
        if self.auth.limiter.blocked(address):
            return self._signin_form(request, "login.html", 429, next=target, error=(
                "Too many wrong tokens from here: wait ten minutes, or ask the bot for a link with /console."))
        expected = self.settings.console_token
        assert expected is not None  # token_actor() is None without it
        if not same_text(form.get("token", ""), expected.get_secret_value()):
            self.auth.limiter.failed(address)
            await self.auth.io(console.record_failed_signin, "token")
            return self._signin_form(request, "login.html", 401, error="That token is not right.", next=target)
        return await self._signed_in(request, TOKEN_PLATFORM, actor, "token", target)

    async def signin_with_link(self, request: Request) -> Response:
        """Failures are limited per address, like wrong tokens (a limit shared by everyone would let
        anyone lock the moderators out), so that nobody can fill the audit log with them either."""
        form = await read_form(request)
        if not self.auth.signin_form_ok(request, form.get("signin_csrf", "")):
            return PlainTextResponse("This form has expired: open the link again.", status_code=403)
        address = request.client.host if request.client else "?"
        if self.auth.limiter.blocked(address):
            return self._signin_form(request, "signin.html", 429, link_token="",
                                     error="Too many failed sign-ins from here: wait ten minutes.")
        who = await self.auth.io(console.redeem_link, form.get("token", ""))
        if who is None:
            self.auth.limiter.failed(address)
            await self.auth.io(console.record_failed_signin, "link")
            return self._signin_form(request, "signin.html", 401, link_token="",
                                     error="This link was already used or has expired. Send /console to the bot "
                                           "for a new one.")
        return await self._signed_in(request, who[0], who[1], "link", "/console/reports")

    async def _signed_in(self, request: Request, platform: str, actor: str, method: str, target: str) -> Response:
        token, session = await self.auth.io(console.open_session, platform, actor, method=method)
        if not self.auth.still_moderator(session):  # a link issued before its moderator was removed
            await self.auth.io(console.close_session, token)
            return PlainTextResponse("You are no longer a moderator.", status_code=403)
        response = RedirectResponse(target, status_code=303)
        self.auth.set_session(response, token, request)
        response.delete_cookie(SIGNIN_COOKIE, path="/console")
        return response

    async def logout(self, request: Request, session: ConsoleSession) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        await self.auth.io(console.close_session, token)
        response = RedirectResponse("/console/login", status_code=303)
        self.auth.clear_session(response)
        return response

    # ---------------------------------------------------------------- reports

    async def reports(self, request: Request, session: ConsoleSession) -> Response:
        rows = await self.auth.io(overview.report_queue)
        return self._page(request, "reports.html", session, reports=rows, section="reports")

    async def resolve(self, request: Request, session: ConsoleSession) -> Response:
        done = await self.moderation.resolve(int(request.path_params["report_id"]), session.actor_hash)
        return _back("/console/reports", "resolved" if done else "gone")

    async def takedown(self, request: Request, session: ConsoleSession) -> Response:
        done = await self.moderation.take_down(request.path_params["job_id"], await _reason(request),
                                               session.actor_hash)
        return _back("/console/reports", "taken_down" if done else "gone")

    async def ban(self, request: Request, session: ConsoleSession) -> Response:
        done = await self.moderation.ban_author(request.path_params["job_id"], await _reason(request),
                                                session.actor_hash)
        return _back("/console/reports", "banned" if done else "gone")

    async def clip(self, request: Request, session: ConsoleSession) -> Response:
        """A reported clip, decrypted for playback (reported clips only; audited once per look)."""
        job_id = request.path_params["job_id"]
        data = await self.auth.io(overview.reported_clip_bytes, job_id)
        if data is None:
            return PlainTextResponse("No reported clip with this id.", status_code=404)
        await self.auth.io(console.record_clip_view, job_id, session.actor_hash)
        return bytes_response(request, data, "video/mp4")

    # ---------------------------------------------------------------- queue and jobs

    async def jobs(self, request: Request, session: ConsoleSession) -> Response:
        rows = await self.auth.io(overview.recent_jobs)
        paused = await self.auth.io(queue.is_paused)
        stats = await self.auth.io(storage.stats)
        return self._page(request, "jobs.html", session, jobs=rows, paused=paused, stats=stats, section="jobs")

    async def bans(self, request: Request, session: ConsoleSession) -> Response:
        rows = await self.auth.io(overview.active_bans)
        return self._page(request, "bans.html", session, bans=rows, section="bans")

    async def lift_ban(self, request: Request, session: ConsoleSession) -> Response:
        user_hash = request.path_params["user_hash"]
        done = hex_id(user_hash, 64) and await self.moderation.lift_ban(user_hash, session.actor_hash)
        return _back("/console/bans", "unbanned" if done else "gone")

    async def pause(self, request: Request, session: ConsoleSession) -> Response:
        await self.moderation.set_paused(True, session.actor_hash)
        return _back("/console/jobs", "paused")

    async def resume(self, request: Request, session: ConsoleSession) -> Response:
        await self.moderation.set_paused(False, session.actor_hash)
        return _back("/console/jobs", "resumed")

    # ---------------------------------------------------------------- plots

    async def plots(self, request: Request, session: ConsoleSession) -> Response:
        now = utcnow()
        timings = await self.auth.io(overview.job_timings, now - timedelta(hours=25))
        # Some 0.1 s of pure Python for a busy day (benchmarks/console.py): off the event loop.
        charts, total = await asyncio.to_thread(_draw_day, timings, now)
        return self._page(request, "plots.html", session, charts=charts, total=total, section="plots")

    # ---------------------------------------------------------------- verify

    async def verify_page(self, request: Request, session: ConsoleSession) -> Response:
        return self._page(request, "verify.html", session, section="verify",
                          limit_mb=f"{self.settings.max_upload_bytes / 2**20:.0f}")

    async def verify(self, request: Request, session: ConsoleSession) -> Response:
        """The clip arrives as the raw body (sent by the page's script); the report comes back as HTML."""
        if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                "multipart/")):
            return PlainTextResponse("Send the clip itself as the request body (the Verify page does).",
                                     status_code=415)
        limit_mb = f"{self.settings.max_upload_bytes / 2**20:.0f}"
        try:
            body = await read_capped(request, self.settings.max_upload_bytes)
        except BodyTooLarge:
            return PlainTextResponse(f"That file is too large (the limit is {limit_mb} MB).", status_code=413)
        if not body:
            return PlainTextResponse("Choose a clip first.", status_code=400)
        try:
            report = await self.moderation.verify(body, session.actor_hash)
        except UnreadableVideo:
            return PlainTextResponse("That file is not a video zaobot can read.", status_code=400)
        return self.templates.TemplateResponse(request, "verify_report.html", {"report": report.text()})

    # ---------------------------------------------------------------- audit

    async def audit(self, request: Request, session: ConsoleSession) -> Response:
        term = request.query_params.get("q", "").strip()[:100]
        rows = await self.auth.io(overview.search_audit, term) if term else []
        return self._page(request, "audit.html", session, q=term, rows=rows, section="audit",
                          limit=overview.AUDIT_LIMIT)


def _local(target: str | None) -> str:
    """Only a path inside the console may be a redirect target (no open redirect)."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return ""


def _draw_day(timings: list[JobTiming], now: datetime) -> tuple[list[str], int]:
    """The four plots of the last 24 hours, and how many renders they count."""
    day = summarise(timings, now)
    charts = [
        bar_chart("Renders per hour (last 24 h, UTC)", day.hours, day.renders),
        line_chart("Queue wait per hour (s)", day.hours, {"p50": day.wait_p50, "p95": day.wait_p95}),
        line_chart("Render time per hour (s)", day.hours, {"p50": day.render_p50, "p95": day.render_p95}),
        reasons_chart("Failures by reason (last 24 h)", day.failures),
    ]
    return charts, sum(day.renders)


async def _reason(request: Request) -> str:
    """The reason a console form gives for a takedown or a ban (kept short, as in the chat)."""
    return (await read_form(request)).get("reason", "").strip()[:500] or "console"


def _back(path: str, note: str) -> Response:
    return RedirectResponse(f"{path}?note={quote(note)}", status_code=303)
