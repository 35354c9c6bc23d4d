"""C2PA: a manifest signed offline with a test ES256 chain validates, and one changed byte breaks it."""

from __future__ import annotations

import json
import shutil

import c2pa

from zaobot.config import Settings
from zaobot.media.provenance import DIGITAL_SOURCE, c2pa_status, make_test_chain, sign_in_place
from zaobot.media.video import probe

from tests.test_render import top_level_boxes


def test_signed_clip_validates_and_tampering_is_detected(rendered, tmp_path):
    root, chain, key = make_test_chain(tmp_path / "c2pa")
    settings = Settings(c2pa_cert=chain, c2pa_key=key, c2pa_trust=root)
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(rendered.path, clip)
    assert c2pa_status(clip, settings) == "no manifest"
    assert sign_in_place(clip, rendered.job_id, settings)

    status = c2pa_status(clip, settings)
    assert status.startswith("trusted"), status
    with c2pa.Reader("video/mp4", open(clip, "rb")) as reader:
        report = json.loads(reader.json())
    manifest = report["manifests"][report["active_manifest"]]
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    created = actions["data"]["actions"][0]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == DIGITAL_SOURCE
    job = next(a for a in manifest["assertions"] if a["label"] == "org.zaobot.job")
    assert job["data"]["job_id"] == rendered.job_id
    # Still a streamable H.264 clip: moov before mdat, same frames.
    boxes = top_level_boxes(clip)
    assert boxes.index("moov") < boxes.index("mdat")
    assert probe(clip).frames == 125

    # Without the test root as trust anchor the signature is valid but not trusted.
    untrusting = Settings(c2pa_cert=chain, c2pa_key=key, c2pa_trust=tmp_path / "missing.pem")
    assert not c2pa_status(clip, untrusting).startswith("trusted")

    tampered = tmp_path / "tampered.mp4"
    data = bytearray(clip.read_bytes())
    data[len(data) - 5000] ^= 0x01  # one byte of the video data
    tampered.write_bytes(bytes(data))
    assert c2pa_status(tampered, settings).startswith("invalid")


def test_no_certificate_means_no_signing(rendered, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(rendered.path, clip)
    before = clip.read_bytes()
    assert not sign_in_place(clip, rendered.job_id, Settings())
    assert clip.read_bytes() == before
