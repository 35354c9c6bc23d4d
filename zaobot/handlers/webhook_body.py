"""Reading a webhook's body with a cap, after the request has been authenticated.

Uvicorn has no body limit: a handler that calls `request.body()` holds whatever a client
sends in memory. Both platforms' updates are small (WeChat's XML is a few KB, Telegram's
JSON rarely tens of KB), so anything past the cap is refused with 413 without being read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

MAX_WEBHOOK_BODY = 1 << 20  # 1 MiB


class BodyTooLarge(Exception):
    """The request declares or streams more than the cap: answer 413."""


async def read_capped(request: Request, limit: int = MAX_WEBHOOK_BODY) -> bytes:
    """The request body, or BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def body_or_413(request: Request, limit: int = MAX_WEBHOOK_BODY) -> bytes | Response:
    """The body of an authenticated webhook request, or the 413 response to answer instead."""
    try:
        return await read_capped(request, limit)
    except BodyTooLarge:
        return PlainTextResponse("request too large", status_code=413)
