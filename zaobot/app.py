"""Wiring for `zaobot serve`: storage, runner, conversation core, the enabled adapters, the sweeper."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import socket
import sqlite3

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from zaobot import storage
from zaobot.config import Settings
from zaobot.handlers.core import Conversation
from zaobot.handlers.webhook_body import BodyTooLarge, body_or_413
from zaobot.jobs import JobRunner
from zaobot.media.scenes import SceneLibrary
from zaobot.models.factory import create_engine
from zaobot.storage.db import DatabaseDamaged, check_integrity
from zaobot.storage.store import in_thread
from zaobot.tasks import end_tasks
from zaobot.web.security import SecurityHeaders
from zaobot.web.site import browser_routes

log = logging.getLogger(__name__)


HTTP_STOP_S = 5.0  # at shutdown, how long the HTTP server may take to answer requests in flight


async def _sweeper(store: storage.Store, interval: float) -> None:
    while True:
        try:
            result = await in_thread(store, storage.sweep)
            log.info("retention sweep: %s", vars(result))
        except Exception:  # noqa: BLE001 - keep sweeping
            log.exception("retention sweep failed")
        await asyncio.sleep(interval)


def http_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for our server. X-Forwarded-For / -Proto are believed only from
    ZAOBOT_TRUSTED_PROXIES: the console's per-address sign-in limit needs each browser's own
    address behind a proxy, and no one else may claim one."""
    return uvicorn.Config(app, log_level="warning", lifespan="off", proxy_headers=True,
                          forwarded_allow_ips=settings.trusted_proxies)


def web_app(settings: Settings, telegram_app: object | None, extra: list[BaseRoute] | None = None) -> Starlette:
    """The shared HTTP server: health check, Telegram webhook, WeChat webhook, console, playground."""

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def telegram_webhook(request: Request) -> Response:
        from telegram import Update

        expected = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not expected or not hmac.compare_digest(given, expected) or telegram_app is None:
            return PlainTextResponse("forbidden", status_code=403)
        body = await body_or_413(request)
        if isinstance(body, Response):
            return body
        try:
            data = json.loads(body)
            update = Update.de_json(data, telegram_app.bot)  # type: ignore[attr-defined]  # a PTB Application
            if update is None:
                raise ValueError("empty update")
        except (ValueError, TypeError, KeyError, AttributeError):  # JSONDecodeError is a ValueError
            log.info("telegram webhook: malformed update (%d bytes)", len(body))
            return PlainTextResponse("bad request", status_code=400)
        await telegram_app.update_queue.put(update)  # type: ignore[attr-defined]  # a PTB Application
        return PlainTextResponse("ok")

    async def too_large(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("request too large", status_code=413)

    return Starlette(routes=[Route("/healthz", health),
                             Route("/telegram/webhook", telegram_webhook, methods=["POST"]), *(extra or [])],
                     middleware=[Middleware(SecurityHeaders)], exception_handlers={BodyTooLarge: too_large})


class PortInUse(RuntimeError):
    """The HTTP port can't be bound: another program (or another zaobot) has it."""


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind the HTTP port before serving, so that a taken port is a clear start-up error
    (uvicorn would otherwise log it and exit the whole process from inside a task)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise PortInUse(f"can't listen on {host}:{port} ({err.strerror}): set ZAOBOT_HTTP_PORT to a free port") \
            from None
    sock.listen(128)
    return sock


def wechat_enabled(settings: Settings) -> bool:
    return bool(settings.wechat_app_id and settings.wechat_token)


def make_runner(store: storage.Store, settings: Settings) -> JobRunner:
    """The local process pool, or, with ZAOBOT_BROKER_URL, `zaobot worker`s through Dramatiq on Redis."""
    if settings.broker_url:
        from zaobot.jobs.broker_runner import BrokerRunner

        return BrokerRunner(store, settings)
    return JobRunner(store, settings)


async def serve(settings: Settings) -> None:
    try:
        store = storage.open_store(settings, require_secret=True)  # also resumes interrupted purges
        check_integrity(store.db)  # a damaged file would fail every update, silently to the users
    except sqlite3.DatabaseError as err:
        raise DatabaseDamaged(str(err)) from None
    engine = create_engine(settings)  # says which engine at start-up; workers build their own
    engine.close()
    library = SceneLibrary(settings.scene_dirs)
    log.info("scenes: %s", ", ".join(library.keywords()))
    # Nothing renders or uploads yet: any plaintext temp file is a crash's leftover.
    cleared = store.media.scratch.clear()
    if cleared:
        log.info("removed %d temporary file(s) left by an earlier run", cleared)
    runner = make_runner(store, settings)
    core = Conversation(store, settings, library, runner)
    tasks: list[asyncio.Task] = []
    telegram_app = None
    server = None
    serving: asyncio.Task | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    if settings.telegram_bot_token is not None:
        from zaobot.handlers.telegram import build_application, replay_held_updates, set_commands

        telegram_app = build_application(settings, core)
    wechat_routes: list[BaseRoute] = []
    wechat_api = None
    if wechat_enabled(settings):
        from zaobot.handlers.wechat import build_wechat

        webhook, wechat_api = build_wechat(settings, core)
        wechat_routes = list(webhook.routes())
        log.info("wechat: webhook at /wechat (%s mode)", "AES safe" if settings.wechat_aes_key else "plain")
    browser = browser_routes(core, settings)  # the console and the playground, when on
    if settings.console == "on" and not settings.console_enabled:
        log.warning("console: ZAOBOT_CONSOLE=on but nobody can sign in; set ZAOBOT_CONSOLE_TOKEN or "
                    "TELEGRAM_MODERATOR_IDS / WECHAT_MODERATOR_OPENIDS (it stays off)")
    sock = None
    if settings.telegram_webhook_url or wechat_routes or browser:
        try:
            sock = listening_socket(settings.http_host, settings.http_port)
        except PortInUse:
            if wechat_api is not None:
                await wechat_api.close()
            core.close()
            store.close()
            raise
    await runner.start(core.hooks())
    try:
        if telegram_app is not None:
            await telegram_app.initialize()
            await set_commands(telegram_app)
            await telegram_app.start()
            if settings.telegram_webhook_url:
                secret = (settings.telegram_webhook_secret.get_secret_value()
                          if settings.telegram_webhook_secret else None)
                await telegram_app.bot.set_webhook(settings.telegram_webhook_url, secret_token=secret)
            else:
                await telegram_app.updater.start_polling(poll_interval=0.0, timeout=10,  # type: ignore[union-attr]  # built with an updater
                                                         drop_pending_updates=False)
            log.info("telegram: %s", "webhook" if settings.telegram_webhook_url else "long polling")
            await replay_held_updates(telegram_app, store)
        if sock is not None:
            server = uvicorn.Server(http_config(settings, web_app(settings, telegram_app, [*wechat_routes, *browser])))
            serving = asyncio.create_task(server.serve(sockets=[sock]), name="zaobot-http")
            tasks.append(serving)
            log.info("http: listening on %s:%d%s", settings.http_host, settings.http_port,
                     "; console at /console" if settings.console_enabled else "")
            if settings.playground:
                log.info("playground: open %s/playground in a browser", settings.base_url)
            if settings.console_enabled and not settings.public_url:
                log.info("console sign-in links point at %s: set ZAOBOT_PUBLIC_URL to the address "
                         "moderators open (e.g. your HTTPS proxy)", settings.base_url)
        tasks.append(asyncio.create_task(_sweeper(store, settings.sweep_interval_s)))
        runner.resume_deliveries()  # clips rendered before a crash, now that the adapters can send
        # Render workers began warming up in runner.start; the selfie checker warms up now that the
        # adapters answer. Selfies sent meanwhile just wait for it.
        tasks.append(asyncio.create_task(core.checker.warm(), name="zaobot-warm-selfie-checker"))
        tasks.append(asyncio.create_task(core.verification.warm(), name="zaobot-warm-live-check"))
        log.info("zaobot is serving")
        await stop.wait()
    finally:
        log.info("shutting down")
        if server is not None and serving is not None:
            server.should_exit = True  # answers what is in flight and closes its sockets, if given the time
            await asyncio.wait({serving}, timeout=HTTP_STOP_S)
        await end_tasks(tasks)
        if telegram_app is not None:
            if telegram_app.updater and telegram_app.updater.running:
                await telegram_app.updater.stop()
            if telegram_app.running:
                await telegram_app.stop()
            await telegram_app.shutdown()
        await runner.stop()
        if wechat_api is not None:
            await wechat_api.close()
        core.close()
        store.close()
