"""What the front-end and the render workers share over Redis: the Dramatiq broker, and media boxes.

Dramatiq carries the render messages; it redelivers a message whose worker died once that
worker's heartbeat is older than HEARTBEAT_MS and some process runs the queue's maintenance
(a chance per Redis command: MAINTENANCE_CHANCE in a million). Measured on this machine: with
Dramatiq's defaults a killed worker's job ran again after 167 s. With a 10 s heartbeat and a 20%
chance it ran again after 11-27 s: only the idle worker's polls of the render queue itself (about
one a second) requeue its messages, so the wait past the heartbeat was geometric. Maintenance on
every command makes it about 11 s every time; while no worker is dead it costs two ZRANGEBYSCOREs.

Media never travel through shared storage. The selfie goes to Redis for the worker, and the
clip comes back, each under its own short-TTL key, encrypted with AES-GCM under a key derived
from ZAOBOT_SECRET_KEY (never stored in Redis); the job id and the kind are bound in as
associated data, so a blob can't be replayed under another job. Results and progress are small
JSON messages without media: a list the front-end pops (`RESULTS`) and a pub/sub channel
(`PROGRESS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dramatiq.brokers.redis import RedisBroker

from zaobot.keys import derive_key

NAMESPACE = "zaobot"
QUEUE = "zaobot-render"
ACTOR = "zaobot_render"
HEARTBEAT_MS = 10_000
MAINTENANCE_CHANCE = 1_000_000  # in a million Redis commands: every poll of an idle worker runs it
RESULTS = "zaobot:results"
PROGRESS = "zaobot:progress"
MEDIA_PREFIX = "zaobot:media:"
CANCEL_PREFIX = "zaobot:cancel:"
NONCE_BYTES = 12
MediaKind = Literal["selfie", "clip"]


def make_broker(url: str) -> RedisBroker:
    """The Dramatiq broker on `url`, tuned so that a dead worker's job is redelivered within seconds."""
    return RedisBroker(url=url, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_MS,
                       maintenance_chance=MAINTENANCE_CHANCE)


class WrongKey(Exception):
    """A media blob did not decrypt: the worker's ZAOBOT_SECRET_KEY differs from the front-end's
    (or the blob was altered)."""


class MediaGone(Exception):
    """The media key expired or was deleted (cancelled, purged, or Redis lost it)."""


def media_key(job_id: str, kind: MediaKind) -> str:
    return f"{MEDIA_PREFIX}{job_id}:{kind}"


class MediaBox:
    """Encrypted, short-lived media keys in Redis (synchronous client: the worker's side, and the
    front-end's through its thread)."""

    def __init__(self, client: redis.Redis, secret: str, ttl_s: float) -> None:
        self.client = client
        self._aead = AESGCM(derive_key(secret, "broker-media"))
        self.ttl_ms = int(ttl_s * 1000)

    def put(self, job_id: str, kind: MediaKind, data: bytes) -> None:
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._aead.encrypt(nonce, data, f"{kind}:{job_id}".encode())
        self.client.set(media_key(job_id, kind), blob, px=self.ttl_ms)

    def get(self, job_id: str, kind: MediaKind) -> bytes:
        blob = self.client.get(media_key(job_id, kind))
        if blob is None:
            raise MediaGone(f"{kind} of job {job_id}")
        assert isinstance(blob, bytes)
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], f"{kind}:{job_id}".encode())
        except InvalidTag:
            raise WrongKey(kind) from None

    def drop(self, job_id: str) -> None:
        """Delete the job's media keys (idempotent)."""
        self.client.delete(media_key(job_id, "selfie"), media_key(job_id, "clip"))

    def cancel(self, job_id: str) -> None:
        """Tell the workers to stop the job (checked between frames), and drop its media."""
        self.client.set(CANCEL_PREFIX + job_id, "1", px=self.ttl_ms)
        self.drop(job_id)

    def cancelled(self, job_id: str) -> bool:
        return bool(self.client.exists(CANCEL_PREFIX + job_id))


@dataclass
class Result:
    """What a worker reports for one delivery of a job; never media (the clip is in its own key)."""

    job_id: str
    ok: bool
    worker: str
    seconds: float = 0.0
    key: str = ""  # the wording key of the failure the user is told about
    params: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # for the job row and the log
    engine: str = ""  # the engine that rendered it

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Result:
        return cls(**json.loads(raw))


def progress_message(job_id: str, done: int, total: int, worker: str) -> str:
    return json.dumps({"job_id": job_id, "done": done, "total": total, "worker": worker})
