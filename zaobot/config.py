"""One settings object for the whole service, read from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zaobot.challenge import ACTIONS, Action, parse_actions

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_SCENES_DIR = PACKAGE_DIR / "scenes"
BUNDLED_ASSETS_DIR = PACKAGE_DIR / "assets"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Settings(BaseSettings):
    """Every knob of zaobot; each has an environment variable (see `.env.example`)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Where the SQLite file, media and user scenes live.
    data_dir: Path = Field(Path("./data"), validation_alias="ZAOBOT_DATA_DIR")
    engine: Literal["mesh", "inswapper", "auto"] = Field("auto", validation_alias="ZAOBOT_ENGINE")
    models_dir: Path = Field(Path("~/.insightface/models"), validation_alias="ZAOBOT_MODELS_DIR")
    # Extra scenes added by the operator; the bundled scenes (`demo`, `webcam`) are always available.
    scenes_dir: Path | None = Field(None, validation_alias="ZAOBOT_SCENES_DIR")
    secret_key: SecretStr | None = Field(None, validation_alias="ZAOBOT_SECRET_KEY")

    # inswapper engine: frames per inference batch, and TensorRT when onnxruntime-gpu has it.
    onnx_batch_size: int = Field(8, validation_alias="ZAOBOT_ONNX_BATCH_SIZE", ge=1)
    onnx_tensorrt: bool = Field(False, validation_alias="ZAOBOT_ONNX_TENSORRT")
    onnx_fp16: bool = Field(False, validation_alias="ZAOBOT_ONNX_FP16")  # TensorRT only

    # Selfie intake limits: why they exist is explained in zaobot/media/images.py.
    max_upload_bytes: int = Field(20 * 1024 * 1024, validation_alias="ZAOBOT_MAX_UPLOAD_BYTES")
    max_image_pixels: int = Field(40_000_000, validation_alias="ZAOBOT_MAX_IMAGE_PIXELS")
    min_face_px: int = Field(80, validation_alias="ZAOBOT_MIN_FACE_PX")

    # Encoding.
    video_crf: int = Field(23, validation_alias="ZAOBOT_VIDEO_CRF")
    video_preset: str = Field("veryfast", validation_alias="ZAOBOT_VIDEO_PRESET")
    max_output_bytes: int = Field(10 * 1024 * 1024, validation_alias="ZAOBOT_MAX_OUTPUT_BYTES")

    # Retention (hours / days).
    selfie_ttl_hours: float = Field(24, validation_alias="ZAOBOT_SELFIE_TTL_HOURS")
    output_ttl_hours: float = Field(24, validation_alias="ZAOBOT_OUTPUT_TTL_HOURS")
    audit_retention_days: float = Field(180, validation_alias="ZAOBOT_AUDIT_RETENTION_DAYS")

    # Label provider name written into metadata.
    provider: str = Field("zaobot", validation_alias="ZAOBOT_PROVIDER")

    # Job runner and limits.
    workers: int = Field(1, validation_alias="ZAOBOT_WORKERS", ge=1)
    renders_per_hour: int = Field(10, validation_alias="ZAOBOT_RENDERS_PER_HOUR", ge=1)
    max_queue: int = Field(50, validation_alias="ZAOBOT_MAX_QUEUE", ge=1)
    sweep_interval_s: float = Field(600, validation_alias="ZAOBOT_SWEEP_INTERVAL_S")
    # Render processes run at this lower CPU priority (nice), so that on a shared machine the chat
    # stays quick while a clip renders; 0 to turn it off.
    render_nice: int = Field(5, validation_alias="ZAOBOT_RENDER_NICE", ge=0, le=19)

    # Scale-out (README "Scaling out"). Unset: renders run in the local process pool above. Set
    # (redis://host:6379/0): they go to `zaobot worker` processes through Dramatiq on Redis.
    broker_url: str | None = Field(None, validation_alias="ZAOBOT_BROKER_URL")
    broker_inflight: int = Field(8, validation_alias="ZAOBOT_BROKER_INFLIGHT", ge=1)  # jobs sent at once
    broker_media_ttl_s: float = Field(3600, validation_alias="ZAOBOT_BROKER_MEDIA_TTL_S", gt=0)
    render_time_limit_s: float = Field(600, validation_alias="ZAOBOT_RENDER_TIME_LIMIT_S", gt=0)

    # C2PA (optional): the operator's signing certificate chain and key, and the trust anchor for checks.
    c2pa_cert: Path | None = Field(None, validation_alias="ZAOBOT_C2PA_CERT")
    c2pa_key: Path | None = Field(None, validation_alias="ZAOBOT_C2PA_KEY")
    c2pa_trust: Path | None = Field(None, validation_alias="ZAOBOT_C2PA_TRUST")

    # The live check (README "The live check"): a selfie is used only after its owner proves,
    # in a short recording, that the face is theirs. `off` restores the behaviour before it.
    liveness: Literal["required", "off"] = Field("required", validation_alias="ZAOBOT_LIVENESS")
    liveness_actions: str = Field(",".join(ACTIONS), validation_alias="ZAOBOT_LIVENESS_ACTIONS")
    liveness_seed: int | None = Field(None, validation_alias="ZAOBOT_LIVENESS_SEED")  # tests only
    liveness_max_bytes: int = Field(20 * 1024 * 1024, validation_alias="ZAOBOT_LIVENESS_MAX_BYTES")

    # Platforms (used by `zaobot serve`). Tokens are secrets: never logged, hidden from repr.
    telegram_bot_token: SecretStr | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field("https://api.telegram.org/bot", validation_alias="TELEGRAM_API_BASE_URL")
    telegram_file_base_url: str = Field(
        "https://api.telegram.org/file/bot", validation_alias="TELEGRAM_FILE_BASE_URL"
    )
    telegram_moderator_ids: str = Field("", validation_alias="TELEGRAM_MODERATOR_IDS")
    # Webhook mode when set (on the shared Starlette server); long polling otherwise.
    telegram_webhook_url: str = Field("", validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    wechat_app_id: str = Field("", validation_alias="WECHAT_APP_ID")
    wechat_app_secret: SecretStr | None = Field(None, validation_alias="WECHAT_APP_SECRET")
    wechat_token: SecretStr | None = Field(None, validation_alias="WECHAT_TOKEN")
    wechat_aes_key: SecretStr | None = Field(None, validation_alias="WECHAT_AES_KEY")
    wechat_api_base_url: str = Field("https://api.weixin.qq.com", validation_alias="WECHAT_API_BASE_URL")
    wechat_moderator_openids: str = Field("", validation_alias="WECHAT_MODERATOR_OPENIDS")
    http_host: str = Field("127.0.0.1", validation_alias="ZAOBOT_HTTP_HOST")
    http_port: int = Field(8080, validation_alias="ZAOBOT_HTTP_PORT", ge=1, le=65535)
    # Proxies whose X-Forwarded-For / -Proto are believed (comma-separated addresses or networks;
    # "*" trusts anyone who can reach the port). The console limits failed sign-ins per client
    # address: behind a proxy it trusts not, every browser would share the proxy's address.
    trusted_proxies: str = Field("127.0.0.1", validation_alias="ZAOBOT_TRUSTED_PROXIES")

    # The web console (README "The web console") on the same HTTP server. Moderators sign in with a
    # one-time link from the bot (`/console`), or with ZAOBOT_CONSOLE_TOKEN. The links point at
    # ZAOBOT_PUBLIC_URL (e.g. https://bot.example.com behind a proxy); unset: http://HOST:PORT.
    # auto: on when the HTTP server runs anyway (webhooks, WeChat); on: also for a long-polling bot
    # (the server then listens just for the console); off: never.
    console: Literal["auto", "on", "off"] = Field("auto", validation_alias="ZAOBOT_CONSOLE")
    console_token: SecretStr | None = Field(None, validation_alias="ZAOBOT_CONSOLE_TOKEN")
    public_url: str = Field("", validation_alias="ZAOBOT_PUBLIC_URL")
    # The playground (README "Try it locally"): a chat page driving the same conversation core, for
    # trying the bot without a platform account. Local use only: it trusts whoever opens it.
    playground: bool = Field(False, validation_alias="ZAOBOT_PLAYGROUND")

    @field_validator("secret_key", "telegram_bot_token", "telegram_webhook_secret", "wechat_app_secret",
                     "wechat_token", "wechat_aes_key", "console_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`TELEGRAM_BOT_TOKEN=` (as in .env.example) means unset, not an empty secret."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("console_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("ZAOBOT_CONSOLE_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        return value

    @model_validator(mode="after")
    def _playground_stays_local(self) -> Settings:
        """The playground trusts whoever opens it (no account, any recording counts as live):
        only on a loopback address, never behind a public URL."""
        if self.playground and (self.public_url or self.http_host not in LOOPBACK):
            raise ValueError("ZAOBOT_PLAYGROUND=1 is for your own machine: it needs ZAOBOT_HTTP_HOST=127.0.0.1 "
                             "(or ::1, localhost) and no ZAOBOT_PUBLIC_URL")
        return self

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("ZAOBOT_PUBLIC_URL must start with http:// or https://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"ZAOBOT_TRUSTED_PROXIES: {item!r} is not an IP address or network "
                                 "(e.g. 127.0.0.1,10.0.0.0/8)") from None
        return value

    @field_validator("liveness_actions")
    @classmethod
    def _known_actions(cls, value: str) -> str:
        parse_actions(value)  # a clear ValueError for a typo, at start-up rather than at the first challenge
        return value

    @property
    def live_actions(self) -> tuple[Action, ...]:
        """The actions a challenge may ask for (ZAOBOT_LIVENESS_ACTIONS), in one fixed order, so that a
        seeded draw does not depend on how the list was written."""
        allowed = parse_actions(self.liveness_actions)
        return tuple(a for a in ACTIONS if a in allowed)

    @property
    def liveness_required(self) -> bool:
        return self.liveness == "required"

    @property
    def scene_dirs(self) -> list[Path]:
        """Scene roots searched in order: the operator's, then the bundled ones."""
        dirs = [self.data_dir / "scenes"]
        if self.scenes_dir is not None:
            dirs.insert(0, self.scenes_dir)
        dirs.append(BUNDLED_SCENES_DIR)
        return dirs

    def moderators(self, platform: str) -> frozenset[str]:
        """Moderator ids configured for a platform."""
        raw = {"telegram": self.telegram_moderator_ids, "wechat": self.wechat_moderator_openids}.get(platform, "")
        return frozenset(part.strip() for part in raw.split(",") if part.strip())

    @property
    def base_url(self) -> str:
        """Where this server is reached from a browser (links in the chat point here)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.http_host, self.http_host)  # any address: loopback
        return f"http://{host}:{self.http_port}"

    @property
    def console_enabled(self) -> bool:
        """The console is served when it is on and someone can sign in: a moderator, or the token.
        `auto` never opens a port that the bot would not open anyway."""
        wanted = self.console == "on" or (self.console == "auto" and bool(
            self.telegram_webhook_url or (self.wechat_app_id and self.wechat_token)))
        return wanted and (self.console_token is not None or any(
            self.moderators(p) for p in ("telegram", "wechat")))

    @property
    def writable_scenes_dir(self) -> Path:
        """Where `zaobot scenes add` writes new scenes."""
        return self.scenes_dir if self.scenes_dir is not None else self.data_dir / "scenes"


def get_settings(**overrides: object) -> Settings:
    """Build settings from env/.env, with explicit overrides (CLI flags, tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the overrides at run time
