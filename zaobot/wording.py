"""The one catalog of user-facing strings, in English and Chinese, looked up by key."""

from __future__ import annotations

from typing import Literal, get_args

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = get_args(Lang)

# What makes a selfie work, shown after consent and in /help: each point answers one of the
# selfie errors below, so users get it right the first time instead of learning it from refusals.
# It becomes part of format templates, so it must not contain braces.
_SELFIE_TIPS: dict[Lang, str] = {
    "en": ("Tips for a good selfie:\n"
           "• look straight at the camera, from about arm's length (not far away)\n"
           "• keep your face uncovered: no hair, hand or mask over it\n"
           "• both eyes open\n"
           "• even light: no strong shadows, no bright window or lamp behind you\n"
           "• only your face in the photo"),
    "zh": ("拍好自拍的小提示：\n"
           "• 正对镜头，距离约一臂远（不要离得太远）\n"
           "• 脸部不要遮挡：头发、手或口罩都不要挡住脸\n"
           "• 睁开双眼\n"
           "• 光线均匀：避免强烈阴影，不要背对窗户或灯光（逆光）\n"
           "• 照片中只有您一个人"),
}

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
    "selfie.eyes_closed": {
        "en": "Your eyes look closed in that photo. Please send one with your eyes open, looking at the camera.",
        "zh": "照片中您的眼睛似乎是闭着的，请睁开眼睛、正对镜头重新自拍。",
    },
    "selfie.one_eye": {
        "en": ("One of your eyes looks closed or covered (a wink, or hair across it). "
               "Please send a photo with both eyes open and uncovered, looking at the camera."),
        "zh": "照片中您有一只眼睛似乎闭着或被遮住（眨眼或头发挡住），请露出双眼、睁开眼睛、正对镜头重新自拍。",
    },
    "selfie.face_covered": {
        "en": ("Too much of your face is covered (hair, a hand, a mask…). "
               "Please send a photo with your whole face uncovered."),
        "zh": "您的脸被遮挡得太多（头发、手、口罩等），请露出整张脸重新自拍。",
    },
    "selfie.tips": _SELFIE_TIPS,
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
    "delete.receipt_temp": {
        "en": "Also removed: {count} temporary file(s) of clips being made or sent.",
        "zh": "另已删除：正在生成或发送中的视频临时文件 {count} 个。",
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
    # ---- conversation
    "bot.welcome": {
        "en": "Hi! I put your face into short movie-style scenes. Every clip is labelled as AI-generated.",
        "zh": "你好！我可以把你的脸换进短视频场景里。每个视频都会标注为 AI 生成。",
    },
    "consent.agree": {"en": "Agree", "zh": "同意"},
    "consent.decline": {"en": "Decline", "zh": "拒绝"},
    "consent.revoke": {"en": "Revoke consent", "zh": "撤回同意"},
    "consent.ask": {
        "en": "Please tap Agree to continue. Nothing you send is kept (or even downloaded) before you agree.",
        "zh": "请点击“同意”后继续。在您同意之前，您发送的任何内容都不会被保存或下载。",
    },
    "consent.accepted": {
        "en": "Thank you. Now send me a selfie, with a scene keyword as the caption if you like. "
              "Scenes: {scenes}.\n\n" + _SELFIE_TIPS["en"],
        "zh": "谢谢！现在请发送一张自拍，可在图片说明中写上场景关键词。可用场景：{scenes}。\n\n" + _SELFIE_TIPS["zh"],
    },
    "consent.declined": {
        "en": "No problem. Nothing about you was stored. Send /start if you change your mind.",
        "zh": "好的，我们没有保存任何关于您的数据。如改变主意，请发送 /start。",
    },
    "consent.revoked": {
        "en": "Consent revoked. I won't process anything new from you. Send /delete to erase what is stored.",
        "zh": "已撤回同意，我们不会再处理您发送的新内容。发送 /delete 可删除已保存的数据。",
    },
    "consent.status": {
        "en": "You agreed to version {version} on {date}.",
        "zh": "您已于 {date} 同意第 {version} 版说明。",
    },
    "bot.help": {
        "en": ("Send a selfie with a scene keyword as the caption (or send the keyword afterwards).\n\n"
               + _SELFIE_TIPS["en"] + "\n\nCommands: /scenes /delete /mydata /privacy /consent /report /help"),
        "zh": ("发送自拍并在说明中写上场景关键词（或稍后发送关键词）。\n\n" + _SELFIE_TIPS["zh"]
               + "\n\n命令：/scenes /delete /mydata /privacy /consent /report /help"),
    },
    "bot.privacy": {
        "en": ("Privacy: we keep your selfie (encrypted) for at most {selfie_h} h and your clips for at most "
               "{output_h} h. We never keep face measurements. Each clip has a visible AI label and an invisible "
               "mark; an audit record without images (your account replaced by a one-way code) is kept "
               "{audit_d} days. /mydata shows what we store, /delete erases it.{live}"),
        "zh": ("隐私说明：自拍加密保存最长 {selfie_h} 小时，生成视频最长 {output_h} 小时；从不保存人脸特征。"
               "每个视频带有可见的 AI 标识和隐式水印；不含图像的审计记录（账号以单向编码代替）保留 {audit_d} 天。"
               "/mydata 查看已保存的数据，/delete 删除全部数据。{live}"),
    },
    "bot.privacy_live": {
        "en": ("\n\nLive check: before your selfie is used, you record a few seconds of video doing two random "
               "actions. It is analysed in memory on our server and deleted at once; we keep only the result "
               "(passed or failed, which check, the method and scores), never the video or face measurements. "
               "It stops someone using a photo of another person, or a photo held up to the camera; it cannot "
               "stop every replayed or synthetic video, so misuse can still be reported with /report."),
        "zh": ("\n\n真人验证：使用您的自拍之前，您需要录制几秒钟视频，完成两个随机动作。视频仅在服务器内存中分析，"
               "随即删除；我们只保留结果（是否通过、哪项检查、方法和分数），从不保存视频或人脸特征。"
               "它能阻止使用他人照片或对着镜头举起照片，但无法阻止所有回放或合成的视频，滥用仍可通过 /report 举报。"),
    },
    "bot.unknown_command": {
        "en": "Sorry, I don't know that command. Send /help for what I can do.",
        "zh": "抱歉，不认识这个命令。发送 /help 查看可用功能。",
    },
    "bot.send_selfie_first": {
        "en": "Send me a selfie first, then pick a scene. Scenes: {scenes}.",
        "zh": "请先发送一张自拍，然后选择场景。可用场景：{scenes}。",
    },
    "bot.pick_scene": {
        "en": "Got your selfie. Pick a scene:",
        "zh": "已收到自拍，请选择场景：",
    },
    "bot.selfie_too_big_file": {
        "en": "That file is too big ({size} MB). Please send a normal phone photo.",
        "zh": "文件过大（{size} MB），请发送普通手机照片。",
    },
    "bot.try_again": {
        "en": "Sorry, something went wrong on our side and your last message was not handled. Please send it again.",
        "zh": "抱歉，我们这边出了问题，您刚才的消息没有处理成功，请重新发送。",
    },
    "bot.banned": {
        "en": "Sorry, this account can't use the bot. You can still use /delete, /mydata and /privacy.",
        "zh": "抱歉，该账号已被禁止使用本服务。您仍可使用 /delete、/mydata 和 /privacy。",
    },
    "bot.paused": {
        "en": "The service is temporarily paused. Please try again later.",
        "zh": "服务暂时暂停，请稍后再试。",
    },
    "limit.one_at_a_time": {
        "en": "You already have a clip in progress. Please wait for it to finish.",
        "zh": "您已有一个视频正在生成，请等待完成。",
    },
    "limit.hourly": {
        "en": "You've reached {limit} clips this hour. Please try again later.",
        "zh": "您本小时已生成 {limit} 个视频，请稍后再试。",
    },
    "limit.queue_full": {
        "en": "We're very busy right now. Please try again in a few minutes.",
        "zh": "当前请求较多，请几分钟后再试。",
    },
    # The live check. {steps} is a numbered list of live.action.* entries; {how} is live.how.<platform>.
    "live.ask": {
        "en": ("One more step, so we know this face is yours and nobody else's: {how}, and in it:\n{steps}\n"
               "Keep your face in the picture, alone, in good light. You have 2 minutes. The video is checked "
               "on our server and deleted straight away; we keep only whether it passed."),
        "zh": ("还差一步，以确认照片中的脸是您本人：{how}，在视频中依次：\n{steps}\n"
               "请保持脸在画面内、画面中只有您一人、光线充足。请在 2 分钟内完成。视频在我们的服务器上检查后立即删除，"
               "我们只保留是否通过的结果。"),
    },
    "live.got_selfie": {"en": "Got your selfie.", "zh": "已收到自拍。"},
    "live.how.telegram": {
        "en": "record a round video message (tap the microphone to switch to the camera, then hold it; 3-10 s)",
        "zh": "录制一条圆形视频消息（点击麦克风图标切换为相机，然后按住录制，3-10 秒）",
    },
    "live.how.playground": {
        "en": "press “Record the live check” below, allow the camera, and press “Stop and send” after 3-10 s",
        "zh": "点击下方的“Record the live check”，允许使用摄像头，3-10 秒后点击“Stop and send”",
    },
    "live.how.wechat": {
        "en": "record a short video (tap +, then Camera, and hold the button; 3-10 s)",
        "zh": "拍摄一段小视频（点击＋，选择“拍摄”，按住拍摄键，3-10 秒）",
    },
    "live.action.turn_left": {"en": "turn your head to your left, then back", "zh": "把头转向您的左侧，再转回来"},
    "live.action.turn_right": {"en": "turn your head to your right, then back", "zh": "把头转向您的右侧，再转回来"},
    "live.action.blink": {"en": "blink", "zh": "眨眼"},
    "live.action.open_mouth": {"en": "open your mouth wide, then close it", "zh": "张大嘴，再合上"},
    "live.passed": {
        "en": "Thanks, that's you. Your selfie is verified. Pick a scene:",
        "zh": "谢谢，确认是您本人，自拍已验证。请选择场景：",
    },
    "live.passed_starting": {
        "en": "Thanks, that's you. Your selfie is verified.",
        "zh": "谢谢，确认是您本人，自拍已验证。",
    },
    "live.already_verified": {
        "en": "Your selfie is already verified; no need for another video. Pick a scene:",
        "zh": "您的自拍已通过验证，无需再录视频。请选择场景：",
    },
    "live.not_round": {
        "en": "Please record the video now, in this chat, as a round video message: a video from your gallery "
              "can't show that you are here.",
        "zh": "请现在在本对话中录制圆形视频消息：相册中的视频无法证明是您本人在场。",
    },
    "live.forwarded": {
        "en": "A forwarded video can't prove it's you. Please record one yourself now, in this chat.",
        "zh": "转发的视频无法证明是您本人。请现在在本对话中亲自录制。",
    },
    "live.no_selfie": {
        "en": "Send me your selfie first; then I'll ask you for a short video to check it's you.",
        "zh": "请先发送您的自拍，之后我会请您录一段短视频以确认是您本人。",
    },
    "live.too_big": {
        "en": "That video is too large ({detail}). A few seconds are enough.",
        "zh": "视频过大（{detail}），几秒钟就够了。",
    },
    "live.expired": {
        "en": "That challenge has expired (2 minutes). Here is a new one.",
        "zh": "该验证已过期（2 分钟）。这是新的验证要求。",
    },
    "live.paused": {
        "en": "Too many checks failed in the last hour, so checking is paused for you until {time} UTC. "
              "Please try again then, in good light, with only your face in the picture.",
        "zh": ("过去一小时内验证失败次数过多，验证已暂停至 {time}（UTC）。"
               "届时请在光线充足、画面中只有您本人的情况下重试。"),
    },
    "live.failed.unreadable": {
        "en": "I couldn't read that video. Please record it again.",
        "zh": "无法读取该视频，请重新录制。",
    },
    "live.failed.no_face": {
        "en": "I couldn't see your face through the video. Keep it in the picture, facing the camera, in good light.",
        "zh": "视频中大部分时间看不到您的脸。请让脸保持在画面内、面向镜头，并保证光线充足。",
    },
    "live.failed.faces": {
        "en": "There was more than one face, or the face changed during the video. Only you should be in it.",
        "zh": "视频中出现了不止一张脸，或中途换了人。画面中应只有您本人。",
    },
    "live.failed.still": {
        "en": "That looks like a photo moved in front of the camera, not a live face. Please record yourself.",
        "zh": "这看起来像是在镜头前移动的照片，而不是真人。请录制您本人。",
    },
    "live.failed.planar": {
        "en": "The face stayed flat while it turned, like a photo or a screen. Please record yourself.",
        "zh": "转头时脸部保持平面，像是照片或屏幕。请录制您本人。",
    },
    "live.failed.actions": {
        "en": "I didn't see you {missing}. Please do each step clearly.",
        "zh": "没有检测到您{missing}。请清楚地完成每个动作。",
    },
    "live.failed.order": {
        "en": "The steps were there, but not in the order asked. Please do them in order.",
        "zh": "动作都有，但顺序不对。请按要求的顺序完成。",
    },
    "live.failed.identity": {
        "en": "The face in the video is not the same person as in your selfie. Only your own face can be used.",
        "zh": "视频中的人与自拍中的不是同一人。只能使用您本人的脸。",
    },
    "live.failed.error": {
        "en": "Something went wrong while checking your video. Please send it again.",
        "zh": "检查视频时出错，请重新发送。",
    },
    "job.queued": {
        "en": "Queued (position {position}). Your clip should be ready in about {seconds} s.",
        "zh": "已排队（第 {position} 位），预计约 {seconds} 秒后完成。",
    },
    "job.rendering": {
        "en": "Rendering your clip… {percent}%",
        "zh": "正在生成视频… {percent}%",
    },
    "job.sent": {"en": "Done! Job {job_id}.", "zh": "完成！任务 {job_id}。"},
    "job.caption": {
        "en": "AI生成 · AI-generated\nScene: {scene} · Job {job_id}",
        "zh": "AI生成 · AI-generated\n场景：{scene} · 任务 {job_id}",
    },
    "job.report_button": {"en": "Report", "zh": "举报"},
    "job.failed": {
        "en": "Sorry, that render failed. Please try again, maybe with another selfie.",
        "zh": "抱歉，生成失败。请重试，或换一张自拍。",
    },
    "job.selfie_expired": {
        "en": "Your selfie has expired and was deleted. Please send it again.",
        "zh": "您的自拍已过期并被删除，请重新发送。",
    },
    "delete.ask": {
        "en": "This erases your selfies, clips, jobs, consent and profile. Are you sure?",
        "zh": "这将删除您的自拍、视频、任务、同意记录和资料。确定吗？",
    },
    "delete.yes": {"en": "Yes, delete everything", "zh": "确认删除"},
    "delete.no": {"en": "Cancel", "zh": "取消"},
    "delete.kept": {"en": "OK, nothing was deleted.", "zh": "好的，未删除任何数据。"},
    "report.thanks": {
        "en": "Thank you. A moderator will look at report #{report_id}.",
        "zh": "谢谢！管理员会处理举报 #{report_id}。",
    },
    "report.usage": {
        "en": "To report a clip, reply to it with /report and a reason, or send /report <job id> <reason>.",
        "zh": "举报视频：回复该视频并发送 /report 和原因，或发送 /report <任务编号> <原因>。",
    },
    "mydata.caption": {
        "en": "Everything we store about you (media are listed, not included).",
        "zh": "我们保存的关于您的全部数据（仅列出媒体文件，不包含内容）。",
    },
    # ---- moderators
    "mod.usage": {"en": "Usage: {usage}", "zh": "用法：{usage}"},
    "mod.done": {"en": "Done: {what}", "zh": "已完成：{what}"},
    "mod.not_found": {"en": "Not found: {what}", "zh": "未找到：{what}"},
    "mod.paused": {"en": "Paused. New renders are refused; queued ones wait.",
                   "zh": "已暂停：拒绝新任务，排队任务等待。"},
    "mod.resumed": {"en": "Resumed.", "zh": "已恢复。"},
    "mod.console_link": {
        "en": ("Your one-time sign-in link to the web console (valid 10 minutes, for you only; "
               "don't forward it):\n{url}"),
        "zh": "网页控制台的一次性登录链接（10 分钟内有效，仅限本人使用，请勿转发）：\n{url}",
    },
    "mod.not_a_video": {"en": "That file is not a video I can read: send the clip as a video or a file.",
                        "zh": "无法读取该文件：请以视频或文件形式发送这段视频。"},
    "mod.console_off": {
        "en": "The web console is off. The operator can turn it on with ZAOBOT_CONSOLE=on.",
        "zh": "网页控制台未开启。运营者可设置 ZAOBOT_CONSOLE=on 开启。",
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


def known_lang(code: str | None) -> Lang:
    """`code` itself when the catalog is written in that language, else English (exact match only)."""
    for lang in LANGS:
        if code == lang:
            return lang
    return "en"


def keys() -> list[str]:
    """All catalog keys (tests check that each has both languages)."""
    return sorted(_CATALOG)


def languages_of(key: str) -> set[str]:
    return set(_CATALOG[key])
