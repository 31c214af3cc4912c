"""The JSON API, /api/v1: what scripts need from the stream, queue, schedules, templates,
feeds and tribes.

Every call acts for the member whose personal API token it carries; an id of someone
else's object is answered 404, as if it did not exist. Lists are paginated with
`limit` and `offset` and answer `{"data": [...], "count": N}`.
"""

from fastapi import APIRouter

from tribe.web.api import accounts, alliance, feeds, me, queue, stream, tribes

router = APIRouter(tags=["api"])
for module in (me, stream, queue, feeds, accounts, tribes, alliance):
    router.include_router(module.router)
