"""Fuzz every operation of the OpenAPI schema (schemathesis): no input gives a 5xx.

Bounded: ``EXAMPLES`` derandomised examples per operation and generation mode
(schema-valid and schema-violating), against a real store with data in it, once with an
admin key (so requests reach the handlers) and once without a key.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api import Settings, create_app
from tests._api_support import firm_record, gold_policies

EXAMPLES = 15


def test_no_input_gives_a_server_error(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}",
                              rate_limit=10**6, rate_burst=10**6, refresh_seconds=0))
    store = app.state.store
    for i in range(1, 6):
        store.put_firm(firm_record(i), actor="setup")
    store.import_policies(gold_policies(), actor="setup", source="gold", publish=True)
    token = store.create_key("admin", actor="setup")[1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                for headers in ({"Authorization": f"Bearer {token}"}, {}):
                    response = case.call(headers=headers)
                    if response.status_code >= 500:
                        failures.append(f"{operation.label} {mode.value}: "  # noqa: B023
                                        f"{response.status_code} {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:
                # Negative mode on an operation without inputs to violate (GET /health).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations >= 15
    assert failures == []
