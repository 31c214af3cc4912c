"""One-time messages after a form: set on the redirect, shown by the next page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import RedirectResponse

FLASH_COOKIE = "tribe_flash"


@dataclass(frozen=True)
class Flash:
    text: str
    error: bool = False


def read_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(unquote(raw))
        return Flash(str(value["text"])[:1000], bool(value.get("error")))
    except (ValueError, KeyError, TypeError):
        return None


def redirect(url: str, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    """See other: `url`, telling the member what happened (or what went wrong)."""
    response = RedirectResponse(url, status_code=303)
    if done or error:
        payload = json.dumps({"text": error or done, "error": bool(error)})
        response.set_cookie(
            FLASH_COOKIE, quote(payload), max_age=60, httponly=True, samesite="lax", path="/"
        )
    return response
