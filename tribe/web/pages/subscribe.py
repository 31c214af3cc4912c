"""The letter's public subscribers on the web: the form of a public tribe's page, and
the links of the emails (`tribe.alliance.subscribers`).

`POST /t/{slug}/subscribe` answers the same page whatever the address, so nobody learns
who reads the letter, and sends the confirmation email after the answer (how long SMTP
takes must not tell either). It is counted per client address, like the other forms
that email someone (`tribe.members.auth.count_mail_request`).

A link's GET only shows what it would do, with one button: mail scanners and link
previews open every link (architecture.md, rule 7). The confirm button is a form like
any other, with its CSRF token. The unsubscribe POST is also what a mail client sends
for RFC 8058's one-click unsubscribe, with no cookie and no CSRF token: its signed token
is the authority, as for `/digest/{token}`. So this module's `router` is included
outside the pages' CSRF check (`tribe.web.pages`), and every other route here carries
the check itself (`checked`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Request, Response

from tribe.alliance import letter_links, subscribers
from tribe.core.errors import InvalidInputError, NotFoundError, TooManyAttemptsError
from tribe.infra.db import read_scope, session_scope
from tribe.infra.outbox import send_now
from tribe.members.auth import address_key, count_mail_request
from tribe.web.config import WebConfig, WebConfigDep
from tribe.web.deps import check_csrf, keyring, render

router = APIRouter()
checked = APIRouter(dependencies=[Depends(check_csrf)])

Slug = Annotated[str, Path(max_length=80)]
Token = Annotated[str, Path(max_length=1000)]


def _count(request: Request, config: WebConfig) -> None:
    """Count the request against the client's address (its /64 for IPv6): beyond the
    limit per address of sign-ins within their window, refused (429) before any work.
    The allowance is per address, not per email and address: many people may
    subscribe from one office."""
    client = request.client.host if request.client else "unknown"
    limits = replace(config.login, per_pair=config.login.per_address)
    try:
        with session_scope() as session:
            count_mail_request(session, key=f"subscribe:{address_key(client)}", limits=limits)
    except TooManyAttemptsError as exc:
        minutes = max(1, round(exc.retry_after / 60))
        raise TooManyAttemptsError(
            "too many subscriptions from your network; try again in "
            f"{minutes} minute{'s' * (minutes != 1)}",
            retry_after=exc.retry_after,
        ) from None


@checked.post("/t/{slug}/subscribe")
def subscribe(
    request: Request,
    slug: Slug,
    config: WebConfigDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Ask for a confirmation email; the same answer for every address."""
    try:
        _count(request, config)
    except TooManyAttemptsError as exc:
        page = render(request, "error.html", 429, message=str(exc))
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    try:
        with read_scope() as session:
            tribe = subscribers.letter_tribe(session, slug)
            name, slug = tribe.name, tribe.slug
    except NotFoundError as exc:
        return render(request, "error.html", 404, message=str(exc))
    try:
        with session_scope() as session:
            key = subscribers.subscribe(
                session,
                slug=slug,
                email=email,
                keys=keyring(),
                base_url=config.base_url,
                sender=config.outbox.sender,
                now=datetime.now(UTC),
            )
    except InvalidInputError as exc:
        return render(
            request,
            "subscribe_form.html",
            400,
            tribe_name=name,
            slug=slug,
            email=email,
            error=str(exc),
        )
    if key is not None:
        background.add_task(send_now, [key], config.transport, config=config.outbox)
    return render(request, "subscribe_sent.html", tribe_name=name, slug=slug, email=email.strip())


@router.get("/t/{slug}/confirm/{token}")
def confirm_page(request: Request, slug: Slug, token: Token) -> Response:
    """What the confirmation link does, and its button; nothing changes here."""
    link = letter_links.read_letter_token(keyring(), token, now=datetime.now(UTC), action="confirm")
    with read_scope() as session:
        standing = subscribers.link_standing(session, link)
    return render(request, "subscribe_link.html", token=token, standing=standing)


@checked.post("/t/{slug}/confirm/{token}")
def confirm(request: Request, slug: Slug, token: Token) -> Response:
    with session_scope() as session:
        outcome = subscribers.confirm(session, token=token, keys=keyring(), now=datetime.now(UTC))
    return render(request, "subscribe_done.html", outcome=outcome)


@router.get("/t/{slug}/unsubscribe/{token}")
def unsubscribe_page(request: Request, slug: Slug, token: Token) -> Response:
    """What the unsubscribe link does, and its button; nothing changes here."""
    link = letter_links.read_letter_token(
        keyring(), token, now=datetime.now(UTC), action="unsubscribe"
    )
    with read_scope() as session:
        standing = subscribers.link_standing(session, link)
    return render(request, "subscribe_link.html", token=token, standing=standing)


@router.post("/t/{slug}/unsubscribe/{token}")
def unsubscribe(request: Request, slug: Slug, token: Token) -> Response:
    """Stop the letter for the link's reader, once. The body is not read: the button's
    form and a mail client's `List-Unsubscribe=One-Click` (RFC 8058) get the same
    answer, a 200 page (never a redirect, which one-click clients do not follow)."""
    with session_scope() as session:
        outcome = subscribers.unsubscribe(
            session, token=token, keys=keyring(), now=datetime.now(UTC)
        )
    return render(request, "subscribe_done.html", outcome=outcome)


# Last: `include_router` copies the routes defined so far.
router.include_router(checked)
