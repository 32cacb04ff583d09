"""The API against its own OpenAPI document (schemathesis, in this process over WSGI): for
every operation, generated requests (valid and not) with an operator's token never get a 5xx,
and every answer has a documented status, content type and body.

The path's issue id is a real issue's, so that generated bodies reach the services instead
of stopping at 404; the examples per operation and mode (valid, invalid) are bounded so that
the whole run stays well under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from newsletter.services import Context, users
from tests.helpers.factories import issue_with, review
from tests.helpers.web import settle

EXAMPLES = 10  # per operation and mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api(app: Flask, services: Context) -> tuple[Any, int, str]:
    """The app's document loaded by schemathesis, a real issue (with a subscriber) and an
    operator's token."""
    issue = issue_with(
        services.factory,
        services.settings,
        [review("dune", "Film"), review("frieren", "Anime", days_ago=2)],
        ["ana@example.com"],
    )
    users.add_user(services, "op@example.com", "operator", None)
    token = users.new_token(services, "op@example.com")
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app), issue, token


# schemathesis.pytest.from_fixture fails under pytest 9 (it reads a private node id), so the
# operations are driven here with schemathesis' strategies under Hypothesis' own @given.
def test_the_api_keeps_its_document(api: tuple[Any, int, str], app: Flask) -> None:
    schema, issue, token = api
    assert schema.raw_schema["openapi"] == "3.1.0"
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        fixed = {"issue_id": issue} if "{issue_id}" in operation.path else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode, path_parameters=fixed))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Case[Any]) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)
                settle(app.test_client())  # a sign-up's confirmation, before the next case

            run()
