"""Keys derived from ZAOBOT_SECRET_KEY, one per purpose: media encryption, user hashes, watermarks.

One secret, separate keys per purpose (HKDF with distinct `info`), so a key leaked from one
use tells nothing about another. Pure functions with no I/O, at the bottom of the layers:
storage (media encryption, user hashes) and media (the watermark) both derive from here,
and neither needs the other for it. Where the secret itself comes from is storage/keys.py.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """The key for one `purpose` ("media", "user-hash", "watermark"...), `length` bytes."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=b"zaobot/v1", info=purpose.encode())
    return hkdf.derive(secret.encode())


def user_hash(secret: str, platform: str, platform_user_id: str) -> str:
    """HMAC-SHA256 of "platform:user_id": how audit rows and bans refer to a person."""
    key = derive_key(secret, "user-hash")
    return hmac.new(key, f"{platform}:{platform_user_id}".encode(), hashlib.sha256).hexdigest()
