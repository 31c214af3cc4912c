"""What every API module shares: pages of lists, error bodies, bounded parameters."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Slug = Annotated[str, Path(max_length=80)]


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


def fields_of(value: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(value, name) for name in model.model_fields if hasattr(value, name)}
