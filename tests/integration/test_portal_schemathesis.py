"""schemathesis against the portal's OpenAPI schema: whatever it sends, no 5xx comes back.

Every operation gets generated requests that fit the schema (positive) and requests that
break it (negative), as an admin (who may call everything). Besides "no server error", the
answers must use the documented status codes and content types, and match the response
schemas.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from portal_kit import Portal
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 20


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(sqlite_portal: Portal, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", sqlite_portal.client.app)
    headers = sqlite_portal.auth("admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers={**(case.headers or {}), **headers}, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing in the request can be broken
        except Exception as error:
            raise AssertionError(f"{operation.label} ({mode.value}): {error}") from error
