"""Every /api/v1 route, fed what its OpenAPI schema allows and what it does not
(schemathesis' generators, driven by hypothesis): never a server error. Bad input is
always a 4xx; a 5xx is a bug.

The schema is read from the running app, so a new route is fuzzed without a line here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.core.result import Ok

from tests.web.conftest import World, api_token
from tribe.web.app import create_app

EXAMPLES = 40  # per route and mode: enough to reach the edges (huge ids, wrong types)


def operations(schema: BaseSchema) -> Iterator[APIOperation[Any, Any, Any, Any]]:
    """Every operation of the schema (one it cannot read fails the test, saying why)."""
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        yield result.ok()


def test_the_fuzz_covers_every_api_route(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app())
    paths = {operation.path for operation in operations(schema)}
    assert {"/api/v1/stream/{item_id}/approve", "/api/v1/queue/{delivery_id}/cancel"} <= paths
    assert len(paths) >= 15


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_no_api_route_answers_a_server_error(world: World, mode: GenerationMode) -> None:
    app = create_app()
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = api_token(world.bob.email)
    failures: list[str] = []
    skipped: list[str] = []
    for operation in operations(schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same cases every run: a failure can be run again
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            response = case.call(headers={**(case.headers or {}), **headers})
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r:.200} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        try:
            call()
        except Unsatisfiable:  # nothing about this route can be made invalid (GET /me)
            assert mode == GenerationMode.NEGATIVE
            skipped.append(operation.path)
    assert failures == []
    assert len(skipped) < 8  # most routes do take input that can be wrong
