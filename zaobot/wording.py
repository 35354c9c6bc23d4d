"""The one catalog of user-facing strings, in English and Chinese, looked up by key."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

_CATALOG: dict[str, dict[Lang, str]] = {
    "selfie.not_image": {
        "en": "That file isn't a photo I can read. Please send a JPEG or PNG selfie.",
        "zh": "无法识别该文件，请发送 JPEG 或 PNG 格式的自拍照。",
    },
    "selfie.corrupt": {
        "en": "That photo seems damaged or incomplete. Please send it again.",
        "zh": "照片似乎已损坏或不完整，请重新发送。",
    },
    "selfie.too_large": {
        "en": "That image is too large ({detail}). Please send a normal phone selfie.",
        "zh": "图片过大（{detail}），请发送普通的手机自拍。",
    },
    "selfie.animated": {
        "en": "Animated images and multi-page files can't be used. Please send a still photo.",
        "zh": "不支持动图或多页文件，请发送一张静态照片。",
    },
    "selfie.no_face": {
        "en": "I couldn't find a face in that photo. Try a well-lit, front-facing selfie.",
        "zh": "照片中未检测到人脸，请在光线充足处正面自拍。",
    },
    "selfie.multiple_faces": {
        "en": "I found {count} faces in that photo. Please send a selfie with only your face in it.",
        "zh": "照片中检测到 {count} 张人脸，请发送只有您本人的自拍。",
    },
    "selfie.face_too_small": {
        "en": "Your face is too small in that photo ({detail}). Please move closer to the camera.",
        "zh": "照片中的人脸太小（{detail}），请靠近镜头重新自拍。",
    },
    "selfie.turned_away": {
        "en": "Your face is turned too far to the side. Please look straight at the camera.",
        "zh": "脸部偏转角度过大，请正对镜头自拍。",
    },
    "scene.unknown": {
        "en": "I don't know the scene \u201c{keyword}\u201d. Available scenes: {choices}.",
        "zh": "没有找到场景“{keyword}”。可用场景：{choices}。",
    },
    "delete.receipt": {
        "en": ("Done. Everything about you is deleted: {profile} profile, {consents} consent record(s), "
               "{selfies} selfie(s), {clips} clip(s), {jobs} job record(s) ({cancelled} cancelled while "
               "waiting), {reports} report(s)."),
        "zh": ("已完成。您的全部数据已删除：资料 {profile} 份、同意记录 {consents} 条、自拍 {selfies} 张、"
               "视频 {clips} 个、任务记录 {jobs} 条（其中 {cancelled} 个排队中的任务已取消）、举报 {reports} 条。"),
    },
    "delete.receipt_audit": {
        "en": ("What remains: {count} audit record(s) (of the clips made and of this deletion), with no images "
               "and only a one-way code instead of your account, kept until {until} as the law requires, "
               "then deleted."),
        "zh": ("仍保留：{count} 条审计记录（生成记录及本次删除记录，不含图像，仅含无法反推账号的单向编码），"
               "按法规保留至 {until}，届时删除。"),
    },
    "delete.receipt_no_audit": {
        "en": "Nothing about you remains.",
        "zh": "没有保留任何与您相关的数据。",
    },
    "label.visible": {
        "en": "AI生成 · AI-generated",
        "zh": "AI生成 · AI-generated",
    },
}


def text(key: str, lang: Lang = "en", **params: object) -> str:
    """Look up a user-facing string; unknown languages fall back to English."""
    entry = _CATALOG[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**params)


def keys() -> list[str]:
    """All catalog keys (tests check that each has both languages)."""
    return sorted(_CATALOG)


def languages_of(key: str) -> set[str]:
    return set(_CATALOG[key])
