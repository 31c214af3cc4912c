"""The members' pages. Every state-changing request carries the page's CSRF token,
except the digest's links: they act on their signed token alone (see `digest`)."""

from fastapi import APIRouter, Depends

from tribe.web.deps import check_csrf
from tribe.web.pages import (
    accounts,
    admin,
    alliance,
    archive,
    connect,
    digest,
    feeds,
    health,
    letters,
    public,
    queue,
    schedule,
    signin,
    stream,
    subscribe,
    tribes,
    welcome,
    you,
)

checked = APIRouter(dependencies=[Depends(check_csrf)])
for module in (
    signin,
    stream,
    queue,
    feeds,
    accounts,
    connect,
    schedule,
    tribes,
    health,
    alliance,
    you,
    admin,
    welcome,
    public,
    letters,
    archive,
):
    checked.include_router(module.router)

router = APIRouter(include_in_schema=False)
router.include_router(checked)
# The one exception to the check: a digest link's POST comes from a mail client's
# one-click unsubscribe (RFC 8058) or a page opened from an email, with no session and
# no CSRF token; its signed token is the authority, for one member and one action.
router.include_router(digest.router)
# The letter's links (`subscribe`): its one-click unsubscribe is the same exception; the
# module's other routes (the subscribe form, the confirm button) carry the check themselves.
router.include_router(subscribe.router)
