"""The members' pages. Every state-changing request carries the page's CSRF token."""

from fastapi import APIRouter, Depends

from tribe.web.deps import check_csrf
from tribe.web.pages import (
    accounts,
    admin,
    connect,
    feeds,
    queue,
    schedule,
    signin,
    stream,
    tribes,
    welcome,
    you,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
for module in (
    signin,
    stream,
    queue,
    feeds,
    accounts,
    connect,
    schedule,
    tribes,
    you,
    admin,
    welcome,
):
    router.include_router(module.router)
