"""Serving a clip held in memory with HTTP byte ranges.

Browsers fetch video in ranges (Safari on iOS plays an MP4 inline only when the server answers
them), and seeking asks for the part it needs. One range per request, as players ask.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def bytes_response(request: Request, data: bytes, media_type: str, disposition: str = "inline") -> Response:
    """200 with the whole body, 206 with the asked range, or 416 for a range past the end.

    A Range header that is not a valid single range (`bytes=5-3`, `bytes=-`, several ranges) is
    ignored, as RFC 9110 says: the whole body, 200."""
    headers = {"accept-ranges": "bytes", "content-disposition": disposition, "cache-control": "no-store"}
    match = RANGE.match(request.headers.get("range", "").strip())
    backwards = match is not None and match[1] != "" and match[2] != "" and int(match[2]) < int(match[1])
    if not match or match.groups() == ("", "") or backwards:
        return Response(data, media_type=media_type, headers=headers)
    size = len(data)
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if start >= size or start > end:  # past the end, or a zero-length suffix
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
    headers["content-range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)
