"""Signing in and out, the operator's first account, invite links and password links."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response
from fastapi.responses import RedirectResponse

from tribe.core.errors import LinkError, NotSignedInError, TooManyAttemptsError, TribeError
from tribe.infra.db import read_scope, session_scope
from tribe.infra.mail import MailConfig
from tribe.infra.models import Member
from tribe.infra.outbox import Letter, enqueue, send_now
from tribe.members import auth, tribes
from tribe.web.config import WebConfig, WebConfigDep
from tribe.web.deps import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    OptionalViewer,
    keyring,
    me,
    render,
    sign_cookie,
    unsign_cookie,
)
from tribe.web.errors import status_of
from tribe.web.flash import redirect

router = APIRouter()

Text = Annotated[str, Form(max_length=2000)]
Password = Annotated[str, Form(max_length=auth.MAX_PASSWORD)]


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a login link must not send members elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/stream"


def _signed_in(member: Member, config: WebConfig, target: str) -> Response:
    """Start a browser session for `member` and go on to `target`. The browser also gets
    a new device cookie: from now on it keeps its own sign-in allowance for this account."""
    with session_scope() as session:
        token = auth.start_session(session, member=member, ttl=config.session_ttl)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_cookie(token),
        max_age=int(config.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
        path="/",
    )
    response.set_cookie(
        DEVICE_COOKIE,
        auth.device_cookie(keyring(), member),
        max_age=int(config.device_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
        path="/login",
    )
    return response


def _device(request: Request, config: WebConfig) -> auth.Device | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    return auth.read_device(keyring(), raw, max_age=config.device_ttl) if raw else None


@router.get("/")
def home(viewer: OptionalViewer) -> Response:
    if viewer is not None:
        return RedirectResponse("/stream", status_code=303)
    with read_scope() as session:
        empty = auth.needs_operator(session)
    return RedirectResponse("/setup" if empty else "/login", status_code=303)


@router.get("/setup")
def setup_page(request: Request) -> Response:
    with read_scope() as session:
        if not auth.needs_operator(session):
            return RedirectResponse("/login", status_code=303)
    return render(request, "setup.html")


@router.post("/setup")
def setup(
    request: Request,
    config: WebConfigDep,
    email: Text,
    name: Text,
    timezone: Text,
    password: Password,
) -> Response:
    try:
        with session_scope() as session:
            member = auth.create_operator(
                session, email=email, display_name=name, timezone=timezone, password=password
            )
    except TribeError as exc:
        return render(request, "setup.html", 422, error=str(exc), email=email, name=name)
    return _signed_in(member, config, "/welcome")


@router.get("/login")
def login_page(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    config: WebConfigDep,
    email: Text,
    password: Password,
    next: Annotated[str, Form(max_length=2000)] = "/stream",
) -> Response:
    client = request.client.host if request.client else "unknown"
    try:
        with session_scope() as session:
            member = auth.authenticate(
                session,
                email=email,
                password=password,
                client=client,
                limits=config.login,
                device=_device(request, config),
            )
        if member is None:  # raised after the block, so the failure is kept
            raise NotSignedInError(auth.NO_MATCH)
    except TribeError as exc:
        status, _ = status_of(exc)
        page = render(request, "login.html", status, error=str(exc), email=email, next=next)
        if isinstance(exc, TooManyAttemptsError):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return _signed_in(member, config, _safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    token = unsign_cookie(raw) if raw else None
    if token:
        with session_scope() as session:
            auth.end_session(session, token)
    response = redirect("/login", done="you are signed out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/join/{token}")
def join_page(
    request: Request, token: str, config: WebConfigDep, viewer: OptionalViewer
) -> Response:
    with read_scope() as session:
        tribe = tribes.invited_info(session, token=token, keys=keyring(), max_age=config.invite_ttl)
    return render(
        request,
        "join.html",
        token=token,
        tribe=tribe,
        signed_in=viewer is not None,
        confirm_by_mail=config.mail is not None,
    )


@router.post("/join/{token}")
def join(
    request: Request,
    token: str,
    config: WebConfigDep,
    viewer: OptionalViewer,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=300)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD)] = "",
) -> Response:
    ttl, keys, mail = config.invite_ttl, keyring(), config.mail
    if viewer is not None:
        with session_scope() as session:
            tribe = tribes.accept_invite(
                session, member=me(session, viewer), token=token, keys=keys, max_age=ttl
            )
        return redirect(f"/tribes/{tribe.slug}", done=f"welcome to {tribe.name}")
    try:
        if mail is not None:
            return _confirm_by_mail(
                request,
                config,
                background,
                mail,
                token=token,
                email=email,
                name=name,
                timezone=timezone,
            )
        # No email to confirm the address with: the account is made at once (and an
        # address that has an account already is told so; see docs/security.md).
        with session_scope() as session:
            member, tribe = tribes.sign_up(
                session,
                token=token,
                keys=keys,
                max_age=ttl,
                email=email,
                display_name=name,
                timezone=timezone,
                password=password,
            )
            slug = tribe.slug
    except LinkError:
        raise
    except TribeError as exc:
        with read_scope() as session:
            invited = tribes.invited_info(session, token=token, keys=keys, max_age=ttl)
        status, _ = status_of(exc)
        page = render(
            request,
            "join.html",
            422 if status < 429 else status,
            token=token,
            tribe=invited,
            signed_in=False,
            confirm_by_mail=mail is not None,
            error=str(exc),
            email=email,
            name=name,
        )
        if isinstance(exc, TooManyAttemptsError):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return _signed_in(member, config, f"/feeds?welcome={slug}")


def _confirm_by_mail(
    request: Request,
    config: WebConfig,
    background: BackgroundTasks,
    mail: MailConfig,
    *,
    token: str,
    email: str,
    name: str,
    timezone: str,
) -> Response:
    """Email a link to finish signing up (or, to an address with an account, a note that
    says so) and answer the same either way: the page never tells who has an account."""
    with session_scope() as session:
        out = tribes.request_sign_up(
            session,
            token=token,
            keys=keyring(),
            max_age=config.invite_ttl,
            email=email,
            display_name=name,
            timezone=timezone,
            limits=config.login,
        )
    base = config.base_url
    if out.token is not None:
        hours = config.reset_ttl.total_seconds() / 3600
        body = (
            f"Someone (hopefully you) asked to join {out.tribe_name} on tribe with this "
            f"address.\n\nOpen this link to choose your password and finish:\n"
            f"{base}/join/confirm/{out.token}\n\nIt works for {hours:g} hours. If you did "
            "not ask, ignore this email: no account is made without it.\n"
        )
    else:
        body = (
            f"Someone (hopefully you) asked to join {out.tribe_name} on tribe with this "
            "address, which has an account here already. Sign in, then open the invite "
            f"link again:\n{base}/login?next=/join/{token}\n\nForgot your password? "
            f"{base}/forgot\n\nIf you did not ask, ignore this email.\n"
        )
    _mail(config, background, "signup", Letter(out.to, f"Joining {out.tribe_name}", body))
    return render(request, "join_sent.html", tribe_name=out.tribe_name, email=out.to)


RESET_SUBJECT = "Set your tribe password"


def _mail(config: WebConfig, background: BackgroundTasks, kind: str, letter: Letter) -> None:
    """Queue an email in the outbox and send it right after the answer (how long SMTP
    takes must not tell who has an account); what cannot go now, the workers retry."""
    key = f"{kind}:{uuid.uuid4()}"
    with session_scope() as session:
        enqueue(session, key=key, kind=kind, letter=letter, sender=config.outbox.sender)
    background.add_task(send_now, [key], config.transport, config=config.outbox)


@router.get("/join/confirm/{code}")
def confirm_page(request: Request, code: str, config: WebConfigDep) -> Response:
    email, name = tribes.sign_up_details(keyring(), code=code, max_age=config.reset_ttl)
    return render(request, "join_confirm.html", code=code, email=email, name=name)


@router.post("/join/confirm/{code}")
def confirm(request: Request, code: str, config: WebConfigDep, password: Password) -> Response:
    keys, ttl = keyring(), config.reset_ttl
    try:
        with session_scope() as session:
            member, tribe = tribes.confirm_sign_up(
                session, code=code, keys=keys, max_age=ttl, password=password
            )
            slug = tribe.slug
    except LinkError:
        raise
    except TribeError as exc:
        email, name = tribes.sign_up_details(keys, code=code, max_age=ttl)
        return render(
            request, "join_confirm.html", 422, code=code, email=email, name=name, error=str(exc)
        )
    return _signed_in(member, config, f"/feeds?welcome={slug}")


@router.get("/forgot")
def forgot_page(request: Request, config: WebConfigDep) -> Response:
    return render(request, "forgot.html", can_mail=config.mail is not None)


@router.post("/forgot")
def forgot(
    request: Request,
    config: WebConfigDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=300)],
) -> Response:
    mail = config.mail
    if mail is None:
        return render(request, "forgot.html", can_mail=False)
    with session_scope() as session:
        token = auth.request_reset(session, email=email, keys=keyring(), limits=config.login)
    if token is not None:
        hours = config.reset_ttl.total_seconds() / 3600
        body = (
            "Someone (hopefully you) asked to set the password of your tribe account.\n\n"
            f"Open this link to set it:\n{config.base_url}/reset/{token}\n\n"
            f"It works once, for {hours:g} hours. If you did not ask, ignore this email: "
            "your password stays as it is.\n"
        )
        _mail(config, background, "reset", Letter(email.strip().lower(), RESET_SUBJECT, body))
    # The same answer whether or not the email has an account.
    return render(request, "forgot.html", can_mail=True, sent=True)


@router.get("/reset/{token}")
def reset_page(request: Request, token: str, config: WebConfigDep) -> Response:
    with read_scope() as session:  # a used or forged link says so before the form
        auth.reset_member(session, token=token, keys=keyring(), max_age=config.reset_ttl)
    return render(request, "reset.html", token=token)


@router.post("/reset/{token}")
def reset(request: Request, token: str, config: WebConfigDep, password: Password) -> Response:
    try:
        with session_scope() as session:
            member = auth.reset_password(
                session, token=token, password=password, keys=keyring(), max_age=config.reset_ttl
            )
    except LinkError:
        raise  # the link itself is no good: the error page, not the form again
    except TribeError as exc:
        return render(request, "reset.html", 422, token=token, error=str(exc))
    return _signed_in(member, config, "/stream")
