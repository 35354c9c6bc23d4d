"""Reading a posted form with a size cap (uvicorn has none), once per request."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from zaobot.handlers.webhook_body import read_capped

MAX_FORM_BYTES = 16 * 1024  # the console's forms carry a token, an id and a short reason


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (empty for any other body); BodyTooLarge past the cap.
    Kept on the request, so that a guard and the handler both read it."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return dict(cached)
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raw = await read_capped(request, MAX_FORM_BYTES)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    request.state.form = form
    return dict(form)
