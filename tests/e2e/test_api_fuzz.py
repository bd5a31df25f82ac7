"""The REST API against its own OpenAPI document, through schemathesis (the field's OpenAPI
fuzzer), on a real bartos: for every operation, examples that fit the schema and examples that
do not, sent with an admin token. No answer may be a 5xx, and every answer must be one the
document promises (status, content type, body schema, headers).

Two of schemathesis' checks are left out, on purpose: the document states the naming rule, the
calendar syntaxes and "one SELECT" in words, not as JSON Schema, so a schema-valid request may
be refused 400 (``positive_data_acceptance``); and a query value schemathesis turns into an
object is still a string on the wire (``negative_data_rejection``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks

from tests.e2e.harness import Barto

ADMIN = "a" * 24
EXAMPLES = int(os.environ.get("BARTO_API_FUZZ_EXAMPLES", "15"))  # per operation and mode (CI: bounded)


def test_every_operation_keeps_the_promises_of_the_openapi_document(barto: Barto, tmp_path: Path) -> None:
    barto.start_server(
        "[schedules.w1]\nschedules = [{ name = 'tick', on_calendar = 'hourly', cmds = ['true'] }]\n"
        f"[tokens.boss]\nrole = 'admin'\ntoken = '{ADMIN}'\n"
    )
    base = f"http://127.0.0.1:{barto.port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[tuple[str, str]] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # our document itself is valid OpenAPI
        operations.append(result.ok())
    assert len(operations) >= 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, base)
            except Unsatisfiable:  # no invalid request exists (an operation without parameters)
                continue
            except (Exception, BaseExceptionGroup) as error:  # a failed check: kept, all are reported
                failures.append((f"{operation.label} {mode.value}", _summary(error)))
    (tmp_path / "failures.txt").write_text("\n\n".join(f"{where}\n{what}" for where, what in failures))
    assert [where for where, _ in failures] == []
    assert barto._alive("bartos")


def _exercise(operation: Any, mode: GenerationMode, base: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=base,
            headers={"Authorization": f"Bearer {ADMIN}"},
            excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
            timeout=10,
        )

    check()


def _summary(error: BaseException) -> str:
    """The failures schemathesis found, one per line (the first lines of each)."""
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else [error]
    return "\n".join(" | ".join(line for line in str(e).strip().splitlines()[:14] if line.strip()) for e in found)
