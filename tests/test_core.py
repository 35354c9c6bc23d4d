"""The conversation core in-process, with a recording outbox: gates that are hard to reach over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from zaobot import storage, wording
from zaobot.errors import EyeClosedOrHidden, EyesClosed, FaceCovered, SelfieError
from zaobot.handlers.core import Conversation
from zaobot.handlers.events import Event, Reply
from zaobot.handlers.selfie_check import SelfieChecker
from zaobot.media.scenes import SceneLibrary

from tests.storage_helpers import make_settings


class RecordingOutbox:
    supports_edit = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def send(self, chat_id: str, reply: Reply) -> str:
        self.sent.append((chat_id, reply))
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        self.sent.append((chat_id, Reply(text)))

    async def delete(self, chat_id: str, message_id: str) -> None:
        pass

    async def action(self, chat_id: str, action: str) -> None:
        pass


class StubRunner:
    def __init__(self) -> None:
        self.poked = 0

    async def position(self, job_id: str) -> int:
        return 1

    def estimate_seconds(self, position: int) -> int:
        return 5

    def poke(self) -> None:
        self.poked += 1


@contextmanager
def open_core(settings) -> Iterator[Conversation]:
    """A conversation core on a fresh store with a stub runner (nothing renders), closed after."""
    store = storage.open_store(settings)
    conv = Conversation(store, settings, SceneLibrary(settings.scene_dirs), StubRunner())  # type: ignore[arg-type]
    try:
        yield conv
    finally:
        conv.close()
        store.close()


@pytest.fixture()
def core(tmp_path):
    with open_core(make_settings(tmp_path / "data", max_queue=3)) as conv:
        conv.register("test", RecordingOutbox())
        yield conv


def ev(kind: str, **kw) -> Event:
    return Event(platform="test", user_id="u1", chat_id="c1", kind=kind, **kw)  # type: ignore[arg-type]


def test_media_is_never_fetched_before_consent(core):
    async def forbidden() -> bytes:
        raise AssertionError("fetched before consent")

    replies = asyncio.run(core.handle(ev("photo", text="demo", fetch_bytes=forbidden, file_size=1000)))
    assert "Agree" in [b.label for row in replies[0].buttons for b in row]
    assert storage.find_user(core.store, "test", "u1") is None


def test_global_queue_bound(core, demo_selfie_bytes):
    asyncio.run(core.handle(ev("callback", text="consent:yes")))
    user = storage.find_user(core.store, "test", "u1")
    storage.add_selfie(core.store, user["id"], demo_selfie_bytes)
    for _ in range(3):  # three other users' jobs fill the queue (ZAOBOT_MAX_QUEUE=3)
        other = storage.grant_consent(core.store, "test", f"other{_}")
        storage.create_job(core.store, other["id"], "demo")
    replies = asyncio.run(core.handle(ev("text", text="demo")))
    assert "very busy" in replies[0].text
    core.store.db.execute("UPDATE jobs SET status = 'done'")
    assert asyncio.run(core.handle(ev("text", text="demo"))) == []  # queued; status went through the outbox
    assert "Queued" in core.outboxes["test"].sent[-1][1].text and core.runner.poked == 1


def test_moderator_commands_look_unknown_to_others(core):
    for command in sorted(core.moderation.COMMANDS):
        replies = asyncio.run(core.handle(ev("command", command=command, text="x")))
        assert replies[0].text.startswith("Sorry, I don't know that command")
    assert core.store.db["audit"].count == 0


def test_telegram_webhook_checks_the_secret_token():
    from starlette.testclient import TestClient

    from zaobot.app import web_app

    class FakeApp:
        bot = None

        def __init__(self) -> None:
            self.update_queue: asyncio.Queue = asyncio.Queue()

    settings = make_settings("/tmp/unused", TELEGRAM_WEBHOOK_SECRET="s3cret-token")
    app = FakeApp()
    client = TestClient(web_app(settings, app))
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                          "text": "/help"}}
    assert client.post("/telegram/webhook", json=update).status_code == 403
    assert client.post("/telegram/webhook", json=update,
                       headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}).status_code == 403
    assert app.update_queue.empty()
    ok = client.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
    assert ok.status_code == 200 and app.update_queue.qsize() == 1
    assert client.get("/healthz").json() == {"ok": True}


# ---------------------------------------------------------------- selfie guidance and the new selfie errors

NEW_SELFIE_ERRORS = [EyesClosed, EyeClosedOrHidden, FaceCovered]


class RefusingEngine:
    """Stands in for the engine inside the real SelfieChecker: its selfie validation raises `error`."""

    name = "refusing"

    def __init__(self) -> None:
        self.error: SelfieError | None = None

    def prepare_source(self, selfie):  # type: ignore[no-untyped-def]
        assert self.error is not None
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("error", NEW_SELFIE_ERRORS)
def test_new_selfie_errors_reach_the_user_in_their_language(tmp_path, demo_selfie_bytes, error, lang):
    settings = make_settings(tmp_path / "data")
    store = storage.open_store(settings)
    engine = RefusingEngine()
    conv = Conversation(store, settings, SceneLibrary(settings.scene_dirs), StubRunner(),  # type: ignore[arg-type]
                        checker=SelfieChecker(settings, engine_factory=lambda: engine))
    conv.register("test", RecordingOutbox())
    try:
        asyncio.run(conv.handle(ev("callback", text="consent:yes", language=lang)))
        engine.error = error()  # raised inside engine.prepare_source, on the checker's thread

        async def selfie() -> bytes:
            return demo_selfie_bytes

        replies = asyncio.run(conv.handle(ev("photo", text="demo", fetch_bytes=selfie, language=lang)))
        assert [r.text for r in replies] == [wording.text(error.key, lang)]
        assert store.db["selfies"].count == 0 and store.db["jobs"].count == 0  # dropped, never stored
    finally:
        conv.close()
        store.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("error", NEW_SELFIE_ERRORS)
def test_new_selfie_errors_from_a_render_worker_reach_the_user(core, demo_selfie_bytes, monkeypatch, error, lang):
    """The same errors, raised by the engine in a render worker, fail the job with their own message."""
    from concurrent.futures import ThreadPoolExecutor

    from zaobot.jobs import runner as runner_module

    def render_job(*args: object) -> dict:
        raise error()

    monkeypatch.setattr(runner_module, "render_job", render_job)
    user = storage.grant_consent(core.store, "test", "u1", language=lang)
    sid = storage.add_selfie(core.store, user["id"], demo_selfie_bytes)
    job = storage.create_job(core.store, user["id"], "demo", selfie_id=sid, chat_id="c1", platform="test",
                             language=lang)
    runner = runner_module.JobRunner(core.store, core.settings)
    runner.hooks = core.hooks()
    runner._pool = ThreadPoolExecutor(max_workers=1)  # type: ignore[assignment]
    try:
        claimed = storage.queue.claim_next(core.store)
        assert claimed is not None and claimed["id"] == job["id"]
        asyncio.run(runner._run(claimed))
    finally:
        runner._pool.shutdown()
    assert core.outboxes["test"].sent[-1][1].text == wording.text(error.key, lang)
    assert storage.get_job(core.store, job["id"])["status"] == "failed"


def test_new_selfie_error_messages_say_what_is_wrong_and_what_to_do():
    assert "eyes" in wording.text("selfie.eyes_closed", "en") and "open" in wording.text("selfie.eyes_closed", "en")
    assert "睁开眼睛" in wording.text("selfie.eyes_closed", "zh")
    assert "covered" in wording.text("selfie.face_covered", "en")
    assert "遮挡" in wording.text("selfie.face_covered", "zh")
    assert "both eyes open" in wording.text("selfie.one_eye", "en") and "hair" in wording.text("selfie.one_eye", "en")
    assert "露出双眼" in wording.text("selfie.one_eye", "zh")
    for error in NEW_SELFIE_ERRORS:
        assert issubclass(error, SelfieError) and error().params == {}
        assert wording.languages_of(error.key) == {"en", "zh"}


GUIDANCE = {
    "en": ["camera", "arm's length", "hair, hand or mask", "eyes open", "shadows", "behind you", "only your face"],
    "zh": ["正对镜头", "一臂远", "头发、手或口罩", "睁开双眼", "阴影", "逆光", "只有您一个人"],
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_consent_accepted_and_help_say_what_makes_a_good_selfie(core, lang):
    tips = wording.text("selfie.tips", lang)
    assert all(point in tips for point in GUIDANCE[lang])
    accepted = asyncio.run(core.handle(ev("callback", text="consent:yes", language=lang)))
    help_ = asyncio.run(core.handle(ev("command", command="help", language=lang)))
    start = asyncio.run(core.handle(ev("command", command="start", language=lang)))
    for replies in (accepted, help_, start):
        assert tips in replies[0].text
    assert "demo" in accepted[0].text and "/delete" in help_[0].text  # scenes and commands are still there



def test_delete_does_not_reset_the_hourly_render_limit(tmp_path):
    settings = make_settings(tmp_path / "data", renders_per_hour=2)
    store = storage.open_store(settings)
    conv = Conversation(store, settings, SceneLibrary(settings.scene_dirs), StubRunner())  # type: ignore[arg-type]
    conv.register("test", RecordingOutbox())
    try:
        for _ in range(2):
            asyncio.run(conv.handle(ev("callback", text="consent:yes")))
            user = storage.find_user(store, "test", "u1")
            storage.add_selfie(store, user["id"], b"selfie")
            asyncio.run(conv.handle(ev("text", text="demo")))
            assert store.db["jobs"].count_where("status = 'queued'") == 1
            asyncio.run(conv.handle(ev("command", command="delete")))
            asyncio.run(conv.handle(ev("callback", text="delete:yes")))  # purges the job rows, cancels the job
            assert store.db["jobs"].count == 0
        asyncio.run(conv.handle(ev("callback", text="consent:yes")))
        user = storage.find_user(store, "test", "u1")
        storage.add_selfie(store, user["id"], b"selfie")
        replies = asyncio.run(conv.handle(ev("text", text="demo")))
        assert replies and replies[0].text == wording.text("limit.hourly", "en", limit=2)
        assert store.db["jobs"].count == 0
        assert store.db["audit"].count_where("action = 'job:queued' and user_hash is not null") == 2
    finally:
        conv.close()
        store.close()


def test_decline_after_agree_revokes_consent_and_says_what_happens_to_the_data(core):
    asyncio.run(core.handle(ev("callback", text="consent:yes")))
    assert storage.current_consent(core.store, "test", "u1") is not None
    replies = asyncio.run(core.handle(ev("callback", text="consent:no")))
    assert storage.current_consent(core.store, "test", "u1") is None  # revoked, as /consent's revoke does
    assert replies[0].text == wording.text("consent.revoked", "en")
    assert "Nothing about you was stored" not in replies[0].text
    # The next photo is not fetched or stored: the consent prompt comes back instead.
    fetched = []

    async def fetch() -> bytes:
        fetched.append(1)
        return b"x"

    replies = asyncio.run(core.handle(ev("photo", fetch_bytes=fetch)))
    assert fetched == [] and core.store.db["selfies"].count == 0
    assert "agree" in replies[0].text.lower() or replies[0].buttons
    # A first-time decline still says nothing was stored.
    first = asyncio.run(core.handle(Event(platform="test", user_id="u2", chat_id="c2", kind="callback",
                                          text="consent:no")))
    assert first[0].text == wording.text("consent.declined", "en")


def test_only_the_latest_selfie_is_kept_and_without_its_metadata(core, demo_selfie_bytes):
    """A stored selfie carries no EXIF (GPS position, camera serial), and 3 selfies leave 1 on disk."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(demo_selfie_bytes))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0xA431] = "SERIAL-0042"  # BodySerialNumber
    exif[0x8825] = {0x0001: "N", 0x0002: (52.0, 31.0, 12.0)}  # GPS latitude
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    tagged = buf.getvalue()
    assert b"SERIAL-0042" in tagged

    asyncio.run(core.handle(ev("callback", text="consent:yes")))
    for _ in range(3):
        asyncio.run(core.handle(ev("photo", fetch_bytes=lambda: _bytes(tagged))))
    user = storage.find_user(core.store, "test", "u1")
    rows = list(core.store.db["selfies"].rows_where("user_id = ?", [user["id"]]))
    assert len(rows) == 1 and len(core.store.media.names()) == 1
    stored = core.store.media.get(rows[0]["file"])
    assert b"SERIAL-0042" not in stored and b"CameraMaker" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as again:
        assert not again.getexif() and again.size[0] > 100


async def _bytes(data: bytes) -> bytes:
    return data


def test_a_late_progress_edit_never_overwrites_the_final_status(core):
    """Progress edits come from another thread and may arrive after the clip was sent."""
    outbox = core.outboxes["test"]
    job = {"id": "f" * 32, "platform": "test", "status_message": "7", "chat_id": "c1", "language": "en",
           "scene": "demo", "output_file": None}

    async def scenario() -> None:
        await core.on_failed(job, "job.failed", {})
        await core.on_progress(job, 125, 125)  # late: the render's last progress report

    asyncio.run(scenario())
    edits = [r.text for _, r in outbox.sent]
    assert edits and edits[-1] == wording.text("job.failed", "en")
    assert not any("%" in e for e in edits[1:])


def test_a_confirmation_without_an_open_delete_prompt_asks_first(core):
    """WeChat users type 确认删除; typed out of the blue it must not erase anything."""
    asyncio.run(core.handle(ev("callback", text="consent:yes")))
    replies = asyncio.run(core.handle(ev("callback", text="delete:yes")))
    assert replies[0].text == wording.text("delete.ask", "en")
    assert storage.find_user(core.store, "test", "u1") is not None  # nothing deleted
    receipt = asyncio.run(core.handle(ev("callback", text="delete:yes")))  # now it answers the open prompt
    assert "deleted" in receipt[0].text and storage.find_user(core.store, "test", "u1") is None


def test_an_unknown_keyword_is_not_echoed_in_full(core, demo_selfie_bytes):
    asyncio.run(core.handle(ev("callback", text="consent:yes")))
    user = storage.find_user(core.store, "test", "u1")
    storage.add_selfie(core.store, user["id"], demo_selfie_bytes)
    replies = asyncio.run(core.handle(ev("text", text="x" * 200_000)))
    assert len(replies) == 1 and len(replies[0].text) < 300 and "x" * 40 + "…" in replies[0].text


def test_a_full_disk_gets_an_answer_not_silence(core, monkeypatch):
    """What SQLite raises when the disk is full, raised where Agree writes the consent."""
    import sqlite3

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage, "grant_consent", disk_full)
    replies = asyncio.run(core.handle(ev("callback", text="consent:yes")))
    assert replies and replies[0].text == wording.text("bot.try_again", "en")
    assert storage.current_consent(core.store, "test", "u1") is None
    monkeypatch.undo()  # space again: the same press now works
    replies = asyncio.run(core.handle(ev("callback", text="consent:yes")))
    assert "Now send me a selfie" in replies[0].text
