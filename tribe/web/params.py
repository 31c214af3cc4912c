"""Numbers the web app takes from a request, bounded where they are read.

An id outside the database's integer range names no row; handed to the driver it would
overflow (a 500). In a path it is answered 404 like any other missing thing (see
`tribe.web.app`), in a form or a JSON body 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path
from pydantic import Field

from tribe.infra.db import MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]  # also each id of a list in a form
