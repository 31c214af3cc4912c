"""What every API module shares: the schema bases, pages of lists, error bodies, bounded
parameters.

Each resource module keeps one family of schemas, after the full-stack FastAPI
template: `XPublic` (what the API answers, built from the service's own type with
`XPublic.model_validate(value)`), `XCreate` / `XUpdate` (what a request sends), and
`XsPublic = Page[XPublic]` (a page of a list: `data`, and `count` from the database).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Slug = Annotated[str, Path(max_length=80)]


class Public(BaseModel):
    # Read from the attributes of a service type; a field named otherwise there says so
    # with `validation_alias`, and can still be given by its own name.
    model_config = ConfigDict(from_attributes=True, validate_by_name=True)


class Input(BaseModel):
    # A field the API does not know is an error, not silently dropped.
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list, and how many there are in all."""

    data: list[T]
    count: int


class Error(BaseModel):
    code: str = Field(examples=["not_found"])
    detail: str = Field(examples=["no stream item #12 for alice@example.org"])


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error} for status in (401, 403, 404, 409, 422, 429)
}
