"""The published contract holds against a hostile client: schemathesis generates requests from
/api/v1/openapi.json for every operation, on both backends, and checks that no answer is a server
error and that every answer's status, content type and body are the ones the document declares.
Bounded (a few examples per operation, derandomized) so the suite stays fast;
bench/contract_bench.py runs the same checks longer."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def contract_failures(app, examples: int, derandomize: bool = True) -> list[str]:
    """Every operation's generated cases against `app`: the failures, one line each."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


def test_api_contract(demo_app):
    failures = contract_failures(demo_app, examples=10)
    assert not failures, "\n\n".join(failures)
