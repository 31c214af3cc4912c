"""The web app: server-rendered pages for members and a JSON API under /api/v1.

Routes are thin: they read the request, call the same functions in `tribe/` that the
CLI calls, and render the result. Errors are mapped to HTTP once, here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from sqlmodel import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from config import get_settings
from tribe import __version__
from tribe.core.errors import (
    InvalidInputError,
    LinkError,
    NotSignedInError,
    TooManyAttemptsError,
    TribeError,
)
from tribe.core.outcomes import PublishError
from tribe.infra.db import read_scope
from tribe.infra.keys import keyring_for
from tribe.web import api, pages
from tribe.web.config import web_config
from tribe.web.deps import (
    CSRF_COOKIE,
    CsrfError,
    Outbound,
    SignInRequired,
    inplace,
    new_csrf_cookie,
    render,
    templates,
)
from tribe.web.errors import status_of
from tribe.web.flash import FLASH_COOKIE, read_flash, redirect
from tribe.web.limits import BodyLimit

log = logging.getLogger("tribe.web")
STATIC = Path(__file__).parent / "static"
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"

API_PREFIX = "/api/v1"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Invite and password links carry a token in their path: never send it elsewhere.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
# Pages and API answers are one member's own: no shared cache, no copy on disk (a new
# API token is shown once, on a page). Static files may be cached.
NO_STORE = "no-store"

DOCS_PATH = f"{API_PREFIX}/docs"
DOCS_ASSETS = f"{API_PREFIX}/docs/assets"  # Swagger UI, shipped by fastapi-offline


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _back(request: Request) -> str:
    """Where a failed form goes back to: the page it came from, on this site only."""
    referer = urlsplit(request.headers.get("referer", ""))
    path = referer.path
    if referer.netloc != request.url.netloc or not path.startswith("/"):
        return "/"
    if path.startswith(("//", "/\\")):  # "//elsewhere/x" is another site to a browser
        return "/"
    return path + (f"?{referer.query}" if referer.query else "")


def api_error(status: int, code: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=headers)


async def _tribe_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, PublishError):  # a network refused a sign-in step (connecting)
        exc = InvalidInputError(str(exc))
    assert isinstance(exc, TribeError)
    status, code = status_of(exc)
    headers = {}
    if isinstance(exc, TooManyAttemptsError):
        headers["Retry-After"] = str(exc.retry_after)
    if _is_api(request):
        return api_error(status, code, str(exc), **headers)
    if inplace(request):
        return Response(str(exc), status_code=status, media_type="text/plain", headers=headers)
    if request.method == "GET" or status == 429 or isinstance(exc, NotSignedInError | LinkError):
        return render(request, "error.html", status_code=status, message=str(exc))
    return redirect(_back(request), error=str(exc))


async def _data_error(request: Request, exc: Exception) -> Response:
    """What the database refused to store as given (PostgreSQL: a NUL character in a
    text, a value longer than its column) is the sender's to fix, never a 500, wherever
    it came in: one handler for the whole class."""
    log.warning("the database refused a value: %s", type(getattr(exc, "orig", exc)).__name__)
    return await _tribe_error(
        request,
        InvalidInputError(
            "what was sent holds something that cannot be stored: a NUL character, or a "
            "value far too long; remove it and try again"
        ),
    )


async def _csrf_error(request: Request, _exc: Exception) -> Response:
    message = "this form had expired; it was not sent. Reload the page and try again"
    if inplace(request):
        return Response(message, status_code=403, media_type="text/plain")
    return render(request, "error.html", status_code=403, message=message)


async def _sign_in(request: Request, _exc: Exception) -> Response:
    if inplace(request):
        return Response("you are signed out; sign in again", status_code=401)
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    # A form sent after the session ended: sign in, then back to the page it came from.
    return redirect(
        f"/login?next={quote(_back(request))}",
        error="you were signed out, so that was not done; sign in and try again",
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if all(e["loc"][0] == "path" for e in exc.errors()):
        # A path that does not parse (an id out of range, a word for a number) names
        # nothing: not found, like any id nobody has.
        detail = "there is nothing at this address; check the name or number in it"
        return await _http_error(request, StarletteHTTPException(404, detail))
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
    )
    if _is_api(request):
        return api_error(422, "invalid_request", problems)
    if inplace(request):
        return Response(problems, status_code=422, media_type="text/plain")
    return render(
        request, "error.html", status_code=422, message=f"the form was not valid: {problems}"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return api_error(exc.status_code, code, str(exc.detail))
    message = "there is no such page" if exc.status_code == 404 else str(exc.detail)
    return render(request, "error.html", status_code=exc.status_code, message=message)


def _health() -> dict[str, bool]:
    """For container health checks: the app answers and reaches the database."""
    with read_scope() as session:
        session.exec(select(1)).one()
    return {"ok": True}


def create_app() -> FastAPI:
    """The ASGI app (`uvicorn tribe.web.app:create_app --factory`)."""
    settings = get_settings()
    app = FastAPI(
        title="tribe",
        version=__version__,
        description="The members' JSON API. Authenticate with a personal API token: "
        "`Authorization: Bearer <token>` (Settings page). Errors are JSON objects with a "
        "stable `code` and a readable `detail`.",
        docs_url=None,  # served below, from files of our own, under the strict policy
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    keyring_for(settings)  # cookies and links are signed with it: fail now, not per page
    app.state.outbound = Outbound.from_settings(settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_ASSETS), name="api-docs-assets")
    app.add_api_route(DOCS_PATH, _api_docs, include_in_schema=False)
    app.add_api_route("/healthz", _health, include_in_schema=False)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    app.include_router(pages.router)
    app.include_router(api.router, prefix=API_PREFIX)
    app.add_exception_handler(TribeError, _tribe_error)
    app.add_exception_handler(PublishError, _tribe_error)
    app.add_exception_handler(CsrfError, _csrf_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimit, max_bytes=settings.TRIBE_MAX_REQUEST_BYTES, api_prefix=API_PREFIX)
    app.middleware("http")(_every_request)  # outermost: its headers go on every answer
    return app


def _secure_every_cookie(response: Response) -> None:
    """Members reach the app over https: no cookie it sets, whoever set it, may travel
    over plain http."""
    for index, (name, value) in enumerate(response.raw_headers):
        if name.lower() == b"set-cookie" and b"; secure" not in value.lower():
            response.raw_headers[index] = (name, value + b"; Secure")


def _favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says: the same icon, not a 404."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def _api_docs(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "api_docs.html", {"assets": DOCS_ASSETS, "openapi_url": request.app.openapi_url}
    )


async def _every_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """CSRF cookie, flash message, security headers, and one log line without secrets."""
    started = time.monotonic()
    cookie = request.cookies.get(CSRF_COOKIE)
    request.state.csrf_cookie = cookie or new_csrf_cookie()
    request.state.flash = read_flash(request)
    response = await call_next(request)
    # Never on an answer shared caches may keep (a public feed, an icon): they would
    # hand one browser's CSRF cookie to others, or refuse to keep the answer at all.
    shared = response.headers.get("cache-control", "").startswith("public")
    if not cookie and not shared:
        response.set_cookie(
            CSRF_COOKIE, request.state.csrf_cookie, httponly=True, samesite="lax", path="/"
        )
    if request.state.flash is not None and response.status_code < 300:
        response.delete_cookie(FLASH_COOKIE, path="/")
    if web_config().secure_cookies:
        _secure_every_cookie(response)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith(("/static/", DOCS_ASSETS)):
        response.headers.setdefault("Cache-Control", NO_STORE)
    # The route's pattern, not the path: /join/{token} must not write the token to a log.
    route = request.scope.get("route")
    path = getattr(route, "path", None) or "(no route)"
    if _is_api(request) and not path.startswith(API_PREFIX):
        path = API_PREFIX + path  # routers are mounted: the route knows only its own part
    log.info(
        "%s %s %s %.0fms",
        request.method,
        path,
        response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response
