"""The web console over HTTP (no browser): sign-in, sessions, CSRF, the guards, plots, audit search.

The browser tests (tests/test_web_browser.py) drive the same pages in chromium; these pin down the
security properties request by request, against the SQLite file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from zaobot import storage
from zaobot.app import web_app
from zaobot.handlers.core import Conversation
from zaobot.handlers.events import Event, Reply
from zaobot.storage import console
from zaobot.storage.overview import JobTiming
from zaobot.web.auth import SESSION_COOKIE, SIGNIN_COOKIE
from zaobot.web.plots import bar_chart, reasons_chart, summarise
from zaobot.web.site import browser_routes

from tests.storage_helpers import make_settings
from tests.test_core import RecordingOutbox, open_core

MODERATOR = "9001"
TOKEN = "operator-token-" + "z" * 20
BASE = "http://localhost"


@pytest.fixture()
def core(tmp_path):
    settings = make_settings(tmp_path / "data", telegram_moderator_ids=MODERATOR, console_token=TOKEN,
                             playground=True, console="on")
    with open_core(settings) as conv:
        conv.register("telegram", RecordingOutbox())
        yield conv


@pytest.fixture()
def client(core):
    app = web_app(core.settings, None, browser_routes(core, core.settings))
    with TestClient(app, base_url=BASE, follow_redirects=False, client=("127.0.0.1", 50000)) as c:
        yield c


def console_command(core: Conversation, user_id: str) -> str:
    event = Event(platform="telegram", user_id=user_id, chat_id=user_id, kind="command", command="console")
    return asyncio.run(core.handle(event))[0].text


def link_token(text: str) -> str:
    match = re.search(r"/console/signin\?token=([\w-]+)", text)
    assert match, text
    return match.group(1)


def sign_in_with_link(client: TestClient, token: str):
    page = client.get(f"/console/signin?token={token}")
    assert page.status_code == 200 and "Sign in as moderator" in page.text
    return client.post("/console/signin", data={"token": token, "signin_csrf": client.cookies[SIGNIN_COOKIE]})


def csrf_of(client: TestClient, path: str = "/console/reports") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def a_reported_job(core: Conversation, short_clip) -> tuple[dict, int]:
    """A rendered job with a stored clip and an open report about it."""
    store = core.store
    user = storage.grant_consent(store, "telegram", "42")
    job = storage.create_job(store, user["id"], "demo", chat_id="42", platform="telegram")
    storage.set_status(store, job["id"], "running")
    storage.attach_output(store, storage.get_job(store, job["id"]), "h", short_clip, engine="mesh")
    storage.record_delivery(store, job["id"], ["42:7"])
    return storage.get_job(store, job["id"]), storage.report(store, user["id"], job["id"], "not me")


# ---------------------------------------------------------------- guards


def test_every_console_route_refuses_without_a_session(client, core):
    """GET pages redirect to the sign-in page; actions and data answer 401; nothing changes."""
    open_routes = {"/console/login", "/console/signin"}
    checked = 0
    for route in client.app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/console") or route.path in open_routes:
            continue
        path = route.path.replace("{report_id:int}", "1").replace("{job_id}", "0" * 32).replace("{user_hash}", "0" * 64)
        for method in route.methods or ():
            if method == "HEAD":
                continue
            answer = client.request(method, path, data={"csrf": "x"} if method == "POST" else None)
            if method == "GET" and not path.startswith("/console/clips"):
                assert answer.status_code == 303, (method, path)
                assert answer.headers["location"].startswith("/console/login"), path
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)
            checked += 1
    assert checked >= 14
    assert not storage.queue.is_paused(core.store)


def test_a_non_moderator_gets_no_link_and_a_moderator_gets_a_one_time_one(client, core):
    reply = console_command(core, "12345")
    assert "/console" not in reply and core.store.db["console_links"].count == 0
    token = link_token(console_command(core, MODERATOR))
    rows = list(core.store.db["console_links"].rows)
    assert len(rows) == 1 and rows[0]["token_hash"] != token  # only its digest is stored
    assert token.encode() not in (core.settings.data_dir / "zaobot.sqlite3").read_bytes()

    signed = sign_in_with_link(client, token)
    assert signed.status_code == 303 and signed.headers["location"] == "/console/reports"
    cookie = signed.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on loopback; see the https test
    assert client.get("/console/reports").status_code == 200

    client.cookies.clear()
    again = sign_in_with_link(client, token)
    assert again.status_code == 401 and "already used" in again.text
    assert client.get("/console/reports").status_code == 303
    assert core.store.db["audit"].count_where("action = 'console:signin_failed'") == 1


def test_an_expired_link_is_refused(client, core):
    token = console.issue_link(core.store, "telegram", MODERATOR, now=datetime.now(UTC) - timedelta(minutes=11))
    assert sign_in_with_link(client, token).status_code == 401


def test_the_signin_form_needs_its_double_submit_token(client, core):
    token = link_token(console_command(core, MODERATOR))
    client.get(f"/console/signin?token={token}")
    forged = client.post("/console/signin", data={"token": token, "signin_csrf": "forged"})
    assert forged.status_code == 403
    assert core.store.db["console_links"].count_where("used_at is null") == 1  # not used up


def test_forged_or_cross_site_csrf_is_refused(client, core, short_clip):
    job, report_id = a_reported_job(core, short_clip)
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    good = csrf_of(client)
    assert client.post(f"/console/reports/{report_id}/resolve", data={"csrf": "forged"}).status_code == 403
    assert client.post(f"/console/reports/{report_id}/resolve", data={}).status_code == 403
    cross = client.post(f"/console/reports/{report_id}/resolve", data={"csrf": good},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert client.post(f"/console/jobs/{job['id']}/takedown", data={"csrf": "forged"}).status_code == 403
    assert storage.get_job(core.store, job["id"])["status"] == "done"
    assert list(core.store.db["reports"].rows)[0]["status"] == "open"

    done = client.post(f"/console/reports/{report_id}/resolve", data={"csrf": good},
                       headers={"Origin": BASE})
    assert done.status_code == 303 and "note=resolved" in done.headers["location"]
    assert list(core.store.db["reports"].rows)[0]["status"] == "resolved"
    actions = [r["action"] for r in core.store.db["audit"].rows]
    assert "moderator:resolve" in actions and "console:signin" in actions


def test_take_down_and_ban_go_through_moderation(client, core, short_clip):
    job, report_id = a_reported_job(core, short_clip)
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    clip = client.get(f"/console/clips/{job['id']}")
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    assert clip.content == short_clip.read_bytes()
    part = client.get(f"/console/clips/{job['id']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == short_clip.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(clip.content)}"
    past = client.get(f"/console/clips/{job['id']}", headers={"Range": f"bytes={len(clip.content)}-"})
    assert past.status_code == 416
    tail = client.get(f"/console/clips/{job['id']}", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == short_clip.read_bytes()[-50:]
    backwards = client.get(f"/console/clips/{job['id']}", headers={"Range": "bytes=200-100"})
    assert backwards.status_code == 200 and backwards.content == short_clip.read_bytes()  # invalid: ignored
    assert client.get(f"/console/clips/{job['id']}").status_code == 200  # the browser's second request
    assert core.store.db["audit"].count_where("action = 'console:view_clip'") == 1  # one look, one row
    core.store.media.path(job["output_file"]).write_bytes(b"x" * 64)  # damaged on disk: a 404, not a crash
    assert client.get(f"/console/clips/{job['id']}").status_code == 404
    token = csrf_of(client)
    answer = client.post(f"/console/jobs/{job['id']}/ban", data={"csrf": token, "reason": "report #1"})
    assert answer.status_code == 303
    after = storage.get_job(core.store, job["id"])
    assert after["status"] == "taken_down" and after["output_file"] is None
    assert not core.store.media.exists(job["output_file"])
    assert storage.is_banned(core.store, "telegram", "42")
    assert list(core.store.db["reports"].rows)[0]["status"] == "resolved"
    assert client.get(f"/console/clips/{job['id']}").status_code == 404  # nothing left to play
    actions = [r["action"] for r in core.store.db["audit"].rows]
    assert {"moderator:ban", "moderator:takedown", "moderator:resolve", "console:view_clip"} <= set(actions)


def test_the_bans_page_lists_bans_by_hash_and_lifts_them(client, core):
    storage.grant_consent(core.store, "telegram", "77")
    storage.ban(core.store, "telegram", "77", reason="report #3", moderator_hash="m" * 64)
    banned = core.store.user_hash("telegram", "77")
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    page = client.get("/console/bans")
    assert page.status_code == 200 and banned[:16] in page.text and "report #3" in page.text
    assert "77" not in re.sub(r"<[^>]+>|[0-9a-f]{12,}|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "", page.text)  # no raw id
    token = csrf_of(client, "/console/bans")
    assert client.post(f"/console/bans/{banned}/lift", data={"csrf": "forged"}).status_code == 403
    assert storage.is_banned(core.store, "telegram", "77")
    lifted = client.post(f"/console/bans/{banned}/lift", data={"csrf": token})
    assert lifted.status_code == 303 and lifted.headers["location"] == "/console/bans?note=unbanned"
    assert not storage.is_banned(core.store, "telegram", "77")
    assert storage.find_user(core.store, "telegram", "77")["banned"] == 0
    again = client.post(f"/console/bans/{banned}/lift", data={"csrf": token})
    assert again.headers["location"] == "/console/bans?note=gone"
    assert client.post("/console/bans/not-a-hash/lift", data={"csrf": token}).headers["location"].endswith("gone")
    rows = [r for r in core.store.db["audit"].rows if r["action"] == "moderator:unban"]
    assert len(rows) == 1 and rows[0]["user_hash"] == banned  # one lift, one row
    assert banned[:16] not in client.get("/console/bans").text


def test_token_sign_in_and_the_failure_limit(client, core):
    page = client.get("/console/login")
    assert "Operator token" in page.text
    signin = client.cookies[SIGNIN_COOKIE]
    wrong = client.post("/console/login", data={"token": "nope", "signin_csrf": signin})
    assert wrong.status_code == 401 and "not right" in wrong.text
    right = client.post("/console/login", data={"token": TOKEN, "signin_csrf": signin, "next": "/console/plots"})
    assert right.status_code == 303 and right.headers["location"] == "/console/plots"
    assert client.get("/console/plots").status_code == 200

    client.cookies.clear()
    client.get("/console/login")
    signin = client.cookies[SIGNIN_COOKIE]
    for _ in range(4):
        client.post("/console/login", data={"token": "nope", "signin_csrf": signin})
    limited = client.post("/console/login", data={"token": TOKEN, "signin_csrf": signin})
    assert limited.status_code == 429  # even the right token waits, from this address
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 429
    # The guesser is slowed down, nobody else: from another address, a token or a link signs in.
    other = TestClient(client.app, base_url=BASE, follow_redirects=False, client=("127.0.0.2", 50000))
    other.get("/console/login")
    fine = other.post("/console/login", data={"token": TOKEN, "signin_csrf": other.cookies[SIGNIN_COOKIE]})
    assert fine.status_code == 303
    other.cookies.clear()
    assert sign_in_with_link(other, link_token(console_command(core, MODERATOR))).status_code == 303


def test_behind_a_trusted_proxy_each_browser_has_its_own_failure_limit(core, tmp_path):
    """uvicorn believes X-Forwarded-For from ZAOBOT_TRUSTED_PROXIES only; from anyone else it is ignored."""
    from zaobot.app import http_config

    def through_proxy(trusted: str) -> Callable[[str, str], int]:
        settings = core.settings.model_copy(update={"trusted_proxies": trusted})
        config = http_config(settings, web_app(settings, None, browser_routes(core, settings)))
        config.load()  # the app as uvicorn serves it, its proxy-headers middleware included

        def sign_in(forwarded_for: str, token: str) -> int:
            browser = TestClient(config.loaded_app, base_url=BASE, follow_redirects=False,
                                 client=("10.1.2.3", 40000), headers={"X-Forwarded-For": forwarded_for})
            browser.get("/console/login")
            return browser.post("/console/login", data={"token": token, "signin_csrf": browser.cookies[SIGNIN_COOKIE]}
                                ).status_code
        return sign_in

    trusted = through_proxy("127.0.0.1,10.0.0.0/8")
    assert [trusted("203.0.113.7", "nope") for _ in range(5)] == [401] * 5
    assert trusted("203.0.113.7", TOKEN) == 429  # that browser waits...
    assert trusted("203.0.113.8", TOKEN) == 303  # ...another one behind the same proxy doesn't
    untrusted = through_proxy("127.0.0.1")
    assert [untrusted("198.51.100.1", "nope") for _ in range(5)] == [401] * 5
    assert untrusted("198.51.100.2", TOKEN) == 429  # the header is ignored: both are 10.1.2.3
    with pytest.raises(ValueError, match="ZAOBOT_TRUSTED_PROXIES: 'proxy.local' is not an IP address"):
        make_settings(tmp_path / "d", trusted_proxies="127.0.0.1, proxy.local")


def test_changing_the_token_ends_its_sessions(client, core):
    client.get("/console/login")
    client.post("/console/login", data={"token": TOKEN, "signin_csrf": client.cookies[SIGNIN_COOKIE]})
    assert client.get("/console/jobs").status_code == 200
    from pydantic import SecretStr

    core.settings.console_token = SecretStr("another-operator-token-" + "q" * 10)
    assert client.get("/console/jobs").status_code == 303
    core.settings.console_token = None
    client.get("/console/login")
    answer = client.post("/console/login", data={"token": TOKEN, "signin_csrf": client.cookies[SIGNIN_COOKIE]})
    assert answer.status_code == 404  # no token set: token sign-in is off


def test_odd_tokens_are_refused_not_crashed_on(client, core):
    client.get("/console/login")
    assert client.post("/console/login", data={"token": TOKEN, "signin_csrf": "é"}).status_code == 403
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    assert client.post("/console/queue/pause", headers={"X-CSRF-Token": "é".encode("latin-1")}).status_code == 403
    assert client.post("/console/queue/pause", data={"csrf": "é"}).status_code == 403
    assert not storage.queue.is_paused(core.store)


def test_an_open_redirect_is_not_possible(client):
    client.get("/console/login")
    answer = client.post("/console/login", data={"token": TOKEN, "signin_csrf": client.cookies[SIGNIN_COOKIE],
                                                  "next": "//evil.example/console"})
    assert answer.headers["location"] == "/console/reports"


def test_a_removed_moderator_is_signed_out(client, core):
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    assert client.get("/console/jobs").status_code == 200
    core.settings.telegram_moderator_ids = "777"
    assert client.get("/console/jobs").status_code == 303


def test_sign_out_ends_the_session(client, core):
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/console/logout", data={"csrf": csrf_of(client)}).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie, path="/console")
    assert client.get("/console/jobs").status_code == 303
    assert core.store.db["console_sessions"].count == 0


def test_the_cookie_is_secure_behind_https(tmp_path):
    settings = make_settings(tmp_path / "data", telegram_moderator_ids=MODERATOR, console="on",
                             public_url="https://bot.example.com")
    with open_core(settings) as conv:
        assert "https://bot.example.com/console/signin?token=" in console_command(conv, MODERATOR)
        app = web_app(settings, None, browser_routes(conv, settings))
        with TestClient(app, base_url="https://bot.example.com", follow_redirects=False) as c:
            token = link_token(console_command(conv, MODERATOR))
            c.get(f"/console/signin?token={token}")
            signed = c.post("/console/signin", data={"token": token, "signin_csrf": c.cookies[SIGNIN_COOKIE]})
            assert "Secure" in signed.headers["set-cookie"]


def test_pages_carry_a_strict_content_security_policy(client):
    page = client.get("/console/login")
    policy = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert not any(word in value for value in policy.values() for word in ("unsafe", "http:", "https:", "*"))
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert client.get("/healthz").headers.get("content-security-policy") is None


def test_pause_resume_and_the_jobs_table(client, core, short_clip):
    job, _ = a_reported_job(core, short_clip)
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    page = client.get("/console/jobs")
    assert job["id"][:12] in page.text and "mesh" in page.text
    client.post("/console/queue/pause", data={"csrf": csrf_of(client, "/console/jobs")})
    assert storage.queue.is_paused(core.store)
    assert "Paused." in client.get("/console/jobs").text
    client.post("/console/queue/resume", data={"csrf": csrf_of(client, "/console/jobs")})
    assert not storage.queue.is_paused(core.store)


def test_audit_search_by_job_and_by_user_hash(client, core, short_clip):
    job, _ = a_reported_job(core, short_clip)
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    by_job = client.get(f"/console/audit?q={job['id']}").text
    assert "job:queued" in by_job and "render" in by_job
    user_hash = core.store.user_hash("telegram", "42")
    by_user = client.get(f"/console/audit?q={user_hash[:16]}").text
    assert "job:queued" in by_user and "console:signin" not in by_user
    assert "Nothing found" in client.get("/console/audit?q=ffffffffffffffff").text


def test_verify_upload_reports_the_watermark(client, core, short_clip):
    job, _ = a_reported_job(core, short_clip)
    assert sign_in_with_link(client, link_token(console_command(core, MODERATOR))).status_code == 303
    token = csrf_of(client, "/console/verify")
    forged = client.post("/console/verify", content=short_clip.read_bytes(), headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    garbage = client.post("/console/verify", content=b"not a video", headers={"X-CSRF-Token": token})
    assert garbage.status_code == 400 and "not a video" in garbage.text
    import io
    import wave

    sound = io.BytesIO()
    with wave.open(sound, "wb") as w:  # a real file, but with no video stream
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    audio = client.post("/console/verify", content=sound.getvalue(), headers={"X-CSRF-Token": token})
    assert audio.status_code == 400
    as_form = client.post("/console/verify", data={"csrf": token, "clip": "x"})
    assert as_form.status_code == 415
    report = client.post("/console/verify", content=short_clip.read_bytes(), headers={"X-CSRF-Token": token})
    assert report.status_code == 200 and "<pre" in report.text and "no watermark" in report.text.lower()


# ---------------------------------------------------------------- plots


def test_summary_counts_renders_waits_and_failures_per_hour():
    now = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)

    def at(hours_ago: float, seconds: float = 0) -> float:
        return (now - timedelta(hours=hours_ago) + timedelta(seconds=seconds)).timestamp()

    timings = [JobTiming(at(1), at(1, 10), at(1, 40), "done", None),
               JobTiming(at(1), at(1, 30), at(1, 90), "done", None),
               JobTiming(at(3), at(3, 5), at(3, 20), "failed", "SelfieError: no face"),
               JobTiming(at(30), at(30, 5), at(30, 20), "done", None),  # outside the window
               JobTiming(at(27), at(5), at(5, 30), "done", None)]  # queued before it, rendered inside
    day = summarise(timings, now)
    assert len(day.hours) == 24 and sum(day.renders) == 3
    late = day.hours.index(datetime(2026, 11, 30, 7, tzinfo=UTC))
    assert day.renders[late] == 1 and day.wait_p50[late] == 22 * 3600 and day.render_p50[late] == 30
    slot = day.hours.index(datetime(2026, 11, 30, 11, tzinfo=UTC))
    assert day.renders[slot] == 2 and day.wait_p50[slot] == 20 and day.render_p50[slot] == 45
    assert day.failures == {"SelfieError": 1}
    assert day.wait_p95[slot] == 29 and day.render_p50[slot - 2] is None  # 20 s and 30 s waits; an empty hour
    svg = bar_chart("renders", day.hours, day.renders)
    assert svg.startswith("<svg") and svg.count('class="bar"') == 24
    assert re.findall(r'data-value="(\d+)"', svg).count("2") == 1
    assert 'data-value="1"' in reasons_chart("failures", day.failures)


def test_the_plots_read_every_job_that_touched_the_day(core, short_clip):
    """A job that waited in the queue longer than a day still counts in the hour it was rendered."""
    from zaobot.storage.overview import job_timings
    from zaobot.storage.store import iso

    job, _ = a_reported_job(core, short_clip)
    now = datetime.now(UTC)
    day_start = now - timedelta(hours=25)
    core.store.db["jobs"].update(job["id"], {"created_at": iso(now - timedelta(hours=30)),
                                             "started_at": iso(now - timedelta(hours=2)),
                                             "finished_at": iso(now - timedelta(hours=1))})
    [timing] = job_timings(core.store, day_start)
    assert abs(timing.finished - (now - timedelta(hours=1)).timestamp()) < 0.01 and timing.status == "done"
    core.store.db["jobs"].update(job["id"], {"started_at": iso(now - timedelta(hours=29)),
                                             "finished_at": iso(now - timedelta(hours=28))})
    assert job_timings(core.store, day_start) == []  # all of it before the day


def test_sessions_and_links_go_with_the_sweep_and_the_moderators_own_delete(core):
    store = core.store
    now = datetime.now(UTC)
    console.issue_link(store, "telegram", MODERATOR, now=now - timedelta(hours=1))  # expired
    fresh = console.issue_link(store, "telegram", MODERATOR)
    console.open_session(store, "telegram", store.user_hash("telegram", MODERATOR), method="link",
                         now=now - timedelta(hours=9))  # expired
    token, _ = console.open_session(store, "telegram", store.user_hash("telegram", MODERATOR), method="link")
    storage.sweep(store)
    assert store.db["console_links"].count == 1 and store.db["console_sessions"].count == 1
    assert console.find_session(store, token) is not None
    storage.grant_consent(store, "telegram", MODERATOR)
    storage.purge_user(store, "telegram", MODERATOR)
    assert store.db["console_links"].count == 0 and store.db["console_sessions"].count == 0
    assert console.redeem_link(store, fresh) is None


# ---------------------------------------------------------------- the playground's API


def test_the_playground_api_takes_requests_from_its_own_page_only(client, core):
    assert client.get("/playground/messages").status_code == 401  # no page loaded: no user
    page = client.get("/playground")
    assert page.status_code == 200 and "zaobot_playground" in page.headers["set-cookie"]
    assert "SameSite=strict" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    say = {"text": "hello", "lang": "en"}
    assert client.post("/playground/say", json=say).status_code == 403  # no X-Playground header
    cross = client.post("/playground/say", json=say, headers={"X-Playground": "1", "Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert core.store.db["users"].count == 0
    ok = client.post("/playground/say", json=say, headers={"X-Playground": "1", "Origin": BASE})
    assert ok.status_code == 200
    messages = client.get("/playground/messages").json()["messages"]
    assert [m["who"] for m in messages] == ["you", "bot"] and "Agree" in str(messages[1]["buttons"])
    too_big = client.post("/playground/photo", content=b"x" * (core.settings.max_upload_bytes + 1),
                          headers={"X-Playground": "1"})
    assert too_big.status_code == 413 and "too large" in too_big.json()["error"]
    not_json = client.post("/playground/press", content=b"{nope", headers={"X-Playground": "1"})
    assert not_json.status_code == 400


def test_after_delete_the_playground_browser_is_someone_new(client, core):
    """The deleted user's audit rows keep a hash of the old id: the browser must not carry it on."""
    client.get("/playground")
    old = client.cookies["zaobot_playground"]
    headers = {"X-Playground": "1", "Origin": BASE}
    client.post("/playground/press", json={"data": "consent:yes", "label": "Agree"}, headers=headers)
    assert storage.find_user(core.store, "playground", old) is not None
    client.post("/playground/say", json={"text": "/delete"}, headers=headers)
    answer = client.post("/playground/press", json={"data": "delete:yes", "label": "Yes"}, headers=headers)
    assert answer.status_code == 200 and "zaobot_playground=" in answer.headers["set-cookie"]
    new = client.cookies["zaobot_playground"]
    assert new != old and storage.find_user(core.store, "playground", old) is None
    messages = client.get("/playground/messages").json()["messages"]
    assert len(messages) == 1 and "deleted" in messages[0]["text"].lower()  # the receipt, and only it
    assert old not in core.outboxes["playground"].chats  # the old conversation is gone from memory


def test_the_playground_answers_this_machine_only(client, core, tmp_path):
    remote = TestClient(client.app, base_url=BASE, client=("203.0.113.5", 40000))
    assert remote.get("/playground").status_code == 403
    assert remote.get("/playground/messages").status_code == 403
    # DNS rebinding: a page on another name, re-pointed at 127.0.0.1, reaches us from this machine
    rebound = TestClient(client.app, base_url="http://evil.example:8080", client=("127.0.0.1", 40000))
    assert rebound.get("/playground").status_code == 403
    assert rebound.post("/playground/say", json={"text": "/start"},
                        headers={"X-Playground": "1", "Origin": "http://evil.example:8080"}).status_code == 403
    for name in ("http://127.0.0.1:8080", "http://[::1]:8080", "http://zaobot.localhost"):
        assert TestClient(client.app, base_url=name, client=("127.0.0.1", 40000)).get("/playground").status_code == 200
    with pytest.raises(ValueError, match="ZAOBOT_PLAYGROUND=1 is for your own machine"):
        make_settings(tmp_path / "d", playground=True, http_host="0.0.0.0")
    with pytest.raises(ValueError, match="ZAOBOT_PLAYGROUND=1 is for your own machine"):
        make_settings(tmp_path / "d", playground=True, public_url="https://bot.example.com")


def test_the_console_is_off_where_no_port_would_open_anyway(tmp_path):
    """auto: a long-polling bot opens no port for the console; its moderators are told how to turn it on."""
    settings = make_settings(tmp_path / "data", telegram_moderator_ids=MODERATOR)
    assert not settings.console_enabled
    assert make_settings(tmp_path / "data", telegram_moderator_ids=MODERATOR, console="on").console_enabled
    assert make_settings(tmp_path / "data", telegram_moderator_ids=MODERATOR,
                         telegram_webhook_url="https://bot.example/telegram/webhook").console_enabled
    assert not make_settings(tmp_path / "data", console="on").console_enabled  # nobody could sign in
    with open_core(settings) as conv:
        assert "ZAOBOT_CONSOLE=on" in console_command(conv, MODERATOR)
        assert conv.store.db["console_links"].count == 0


def test_the_playground_is_off_unless_asked_for(tmp_path):
    settings = make_settings(tmp_path / "data")
    with open_core(settings) as conv:
        assert browser_routes(conv, settings) == []  # no moderator, no token, no playground: no pages
        with TestClient(web_app(settings, None, browser_routes(conv, settings))) as c:
            assert c.get("/playground").status_code == 404 and c.get("/console/login").status_code == 404


def test_the_playground_holds_clips_within_its_bounds(monkeypatch):
    from zaobot.web import playground_outbox as playground

    monkeypatch.setattr(playground, "MEDIA_BUDGET", 10_000)
    outbox = playground.PlaygroundOutbox(media_ttl_s=3600)
    kept = [outbox.keep("a", "video/mp4", bytes([i]) * 1000) for i in range(6)]
    assert [outbox.get("a", m) is not None for m in kept] == [False, False, True, True, True, True]  # 4 a chat
    assert outbox.get("b", kept[-1]) is None  # another browser can't fetch it
    big = [outbox.keep(f"c{i}", "video/mp4", b"x" * 3000) for i in range(3)]
    assert sum(len(m.data) for m in outbox.media.values()) <= 10_000 and outbox.get("c2", big[-1]) is not None
    old = outbox.keep("d", "video/mp4", b"y")
    monkeypatch.setattr(playground.time, "monotonic", lambda: 10**9)  # long after the clip's retention
    assert outbox.get("d", old) is None and old not in outbox.media
    asyncio.run(outbox.send("c2", Reply("Done! Job 1.")))
    assert len(outbox.transcript("c2").messages) == 1
    outbox.forget("c2")
    assert outbox.get("c2", big[-1]) is None and not outbox.transcript("c2").messages


def test_serve_says_clearly_when_the_http_port_is_taken(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**os.environ, "ZAOBOT_PLAYGROUND": "1", "ZAOBOT_HTTP_PORT": str(port), "ZAOBOT_DATA_DIR": str(tmp_path),
               "ZAOBOT_SECRET_KEY": "k" * 40, "ZAOBOT_ENGINE": "mesh"}
        done = subprocess.run([sys.executable, "-m", "zaobot", "serve"], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"can't listen on 127.0.0.1:{port}" in done.stderr and "ZAOBOT_HTTP_PORT" in done.stderr
    assert "Traceback" not in done.stderr
