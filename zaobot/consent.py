"""The consent text users accept before anything about them is processed.

The hash covers the rendered text in both languages, so changing the text, or
a retention time quoted in it, asks every user to consent again.
"""

from __future__ import annotations

import hashlib

from zaobot.config import Settings

CONSENT_VERSION = "2026-11-v2"  # v2: the live check

_TEXT = {
    "en": (
        "Before we start, please read this.\n"
        "• We use your selfie only to put your face into the scene you pick. Never for anything else: "
        "no training, no recognition, no sharing.\n"
        "• Your selfie is stored encrypted for at most {selfie_h} hours so you can try more scenes; "
        "your clips for at most {output_h} hours. We never store face measurements.\n"
        "• Every clip is labelled \u201cAI生成 · AI-generated\u201d and carries an invisible mark, so it can be "
        "traced to this service. Don't use it to deceive or to impersonate anyone.\n"
        "• Only use your own face.{live}\n"
        "• Send /delete at any time to erase everything about you. An audit record of each clip "
        "(no images, only a one-way code instead of your account) is kept for {audit_d} days, as the law asks."
    ),
    "zh": (
        "开始之前，请阅读以下说明。\n"
        "• 您的自拍仅用于把您的脸合成到您选择的场景中，绝不用于其他用途：不用于训练、识别或分享。\n"
        "• 自拍加密保存最长 {selfie_h} 小时，方便您尝试更多场景；生成的视频最长保存 {output_h} 小时。"
        "我们从不保存人脸特征数据。\n"
        "• 每个视频都带有“AI生成 · AI-generated”标识和隐式水印，可追溯到本服务。请勿用于欺骗或冒充他人。\n"
        "• 请只使用您本人的照片。{live}\n"
        "• 随时发送 /delete 即可删除您的全部数据。每个视频的审计记录（不含图像，仅含无法反推账号的单向编码）"
        "按法规要求保留 {audit_d} 天。"
    ),
}


# With the live check on (ZAOBOT_LIVENESS=required), the "own face" point says how it is checked.
_LIVE = {
    "en": (" Before your selfie is used, you record a few seconds of video doing two actions we ask for, so we "
           "know the face is yours. The video is analysed in memory and deleted at once; only the result is kept."),
    "zh": ("使用自拍前，您需要按要求录制几秒钟视频、完成两个动作，以确认是您本人。"
           "视频仅在内存中分析并立即删除，只保留结果。"),
}


def consent_text(settings: Settings, lang: str = "en") -> str:
    template = _TEXT.get(lang, _TEXT["en"])
    live = _LIVE.get(lang, _LIVE["en"]) if settings.liveness_required else ""
    return template.format(selfie_h=f"{settings.selfie_ttl_hours:g}", output_h=f"{settings.output_ttl_hours:g}",
                           audit_d=f"{settings.audit_retention_days:g}", live=live)


def consent_hash(settings: Settings) -> str:
    """Hash of the current consent text in every language."""
    digest = hashlib.sha256(CONSENT_VERSION.encode())
    for lang in sorted(_TEXT):
        digest.update(consent_text(settings, lang).encode())
    return digest.hexdigest()
