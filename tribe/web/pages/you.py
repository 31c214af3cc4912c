"""The member's own settings: the emails they get (the digest, their chiefs' nudges,
the reminder) and personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from tribe.alliance.digest import schedule_of, set_digest
from tribe.core.digest import check_weekday, day_name
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import DigestMode
from tribe.infra.db import read_scope, session_scope
from tribe.infra.models import Member
from tribe.members import auth
from tribe.members.people import set_mail_choices
from tribe.web.deps import PageViewer, me, render
from tribe.web.flash import redirect
from tribe.web.params import PathId

router = APIRouter()
DAYS = tuple(day_name(n) for n in range(7))


@dataclass(frozen=True)
class EmailChoices:
    """The Settings form's email fields: as stored, or as sent when they were refused
    (shown again as the member typed them; nothing stored changed)."""

    mode: str
    hour: str
    weekday: str
    nudges: bool
    reminders: bool

    @classmethod
    def of(cls, member: Member) -> EmailChoices:
        return cls(
            member.digest_mode.value,
            member.digest_hour,
            str(member.digest_weekday),
            member.nudges,
            member.reminders,
        )


@router.get("/settings")
def settings_page(request: Request, viewer: PageViewer) -> Response:
    with read_scope() as session:
        member = me(session, viewer)
        tokens = auth.list_tokens(session, member=member)
        mail = EmailChoices.of(member)
    return render(request, "settings.html", tokens=tokens, mail=mail, days=DAYS)


Choice = Annotated[str, Form(max_length=20)]


@router.post("/settings/email")
def save_email(
    request: Request,
    viewer: PageViewer,
    digest: Choice = "",
    hour: Choice = "",
    weekday: Choice = "0",
    nudges: Annotated[bool, Form()] = False,  # a checkbox left unticked is not sent
    reminders: Annotated[bool, Form()] = False,
) -> Response:
    """The digest's period and hour, the nudges and the reminder: all saved, or none."""
    sent = EmailChoices(digest, hour.strip(), weekday.strip(), nudges, reminders)
    try:
        mode, day = _digest_mode(sent.mode), _weekday(sent.weekday)
        with session_scope() as session:
            member = me(session, viewer)
            # Turned off, the digest keeps its hour and day for when it is turned on again.
            set_digest(session, member, mode=mode, hour=sent.hour, weekday=day)
            set_mail_choices(session, member=member, nudges=nudges, reminders=reminders)
            digest_now = schedule_of(member).describe()
    except InvalidInputError as exc:
        with read_scope() as session:
            tokens = auth.list_tokens(session, member=me(session, viewer))
        return render(
            request, "settings.html", 422, tokens=tokens, mail=sent, days=DAYS, mail_error=str(exc)
        )
    said = f"saved: the digest {digest_now}; nudges {_on(nudges)}; reminders {_on(reminders)}"
    return redirect("/settings", done=said)


def _digest_mode(value: str) -> DigestMode:
    try:
        return DigestMode(value)
    except ValueError:
        raise InvalidInputError("choose daily, weekly or off for the digest") from None


def _weekday(value: str) -> int:
    if not value.isdigit():
        raise InvalidInputError("choose a day of the week, Monday to Sunday, for the digest")
    return check_weekday(int(value))


def _on(value: bool) -> str:
    return "on" if value else "off"


@router.post("/settings/tokens")
def new_token(
    request: Request, viewer: PageViewer, name: Annotated[str, Form(max_length=200)]
) -> Response:
    with session_scope() as session:
        member = me(session, viewer)
        info, secret = auth.create_token(session, member=member, name=name)
        tokens = auth.list_tokens(session, member=member)
        mail = EmailChoices.of(member)
    # Shown once, on this response only; never stored, never shown again.
    return render(
        request,
        "settings.html",
        tokens=tokens,
        new_token=secret,
        new_name=info.name,
        mail=mail,
        days=DAYS,
    )


@router.post("/settings/tokens/{token_id}/revoke")
def revoke(viewer: PageViewer, token_id: PathId) -> Response:
    with session_scope() as session:
        auth.revoke_token(session, member=me(session, viewer), token_id=token_id)
    return redirect("/settings", done="token revoked: scripts using it are refused from now on")
