"""Schemathesis against the API's own OpenAPI schema: no request makes the server answer 5xx.

The app is the real one (``create_app``) on the demo job types, served over
ASGI in the test process, called with an admin token. Path parameters are
random, or, for about half the cases, the id of a run that exists (a
completed import, a failed one, one with row failures), so the operations on
real runs are exercised too. Examples per operation are bounded.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from tests.hardening.support import DEMO_HEADER, customer, make_engine

from jobport import Jobport, RunStateError, StartRequest
from jobport.api import create_user
from jobport.server import create_app


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    with make_engine(root) as engine:
        _, token = create_user(engine.store, "admin", is_admin=True)
        runs = seed_runs(engine)
        yield {"app": create_app(engine), "token": token, "runs": runs}


def seed_runs(engine: Jobport) -> list[str]:
    def start(data: bytes) -> str:
        request = StartRequest(type="customers", source_name="seed.csv", owner="admin")
        return engine.start(request, stream=io.BytesIO(data)).id

    return [
        start(DEMO_HEADER + customer(1) + customer(2)),
        start(DEMO_HEADER + customer(3) + customer(4, country="ZZ")),
        start(b"id,id\n1,2\n"),
    ]


EXAMPLES = 25


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_a_server_error(api: dict[str, Any], mode: GenerationMode) -> None:
    """Every operation of the schema, valid and invalid inputs: never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api["app"])
    headers = {"Authorization": f"Bearer {api['token']}"}
    server_errors: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            parameters = case.path_parameters or {}
            if "run_id" in parameters:
                seed = zlib.crc32(repr((case.query, case.body)).encode())
                if seed % 2:
                    parameters["run_id"] = api["runs"][seed % len(api["runs"])]
            response = case.call(headers=headers)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} {case.query!r} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        try:
            call()
        except Unsatisfiable:
            # Nothing invalid can be said to an operation without inputs (GET /health).
            assert mode is GenerationMode.NEGATIVE
    assert operations >= 10
    assert server_errors == []


@pytest.mark.parametrize("path", ["/api/jobs", "/api/exports", "/api/jobs/{run}/failures"])
def test_a_huge_offset_is_refused_not_a_server_error(api: dict[str, Any], path: str) -> None:
    client = TestClient(api["app"], raise_server_exceptions=False)
    response = client.get(
        path.format(run=api["runs"][1]),
        params={"offset": str(10**20)},
        headers={"Authorization": f"Bearer {api['token']}"},
    )
    assert response.status_code < 500, response.text


def test_resuming_a_run_refused_at_planning_keeps_it_failed(tmp_path: Path) -> None:
    with make_engine(tmp_path) as engine:
        refused = engine.start(
            StartRequest(type="customers", source_name="dup.csv"),
            stream=io.BytesIO(b"id,id\n1,2\n"),
        )
        assert refused.status == "failed"
        try:
            run = engine.resume(refused.id)
        except RunStateError:
            run = engine.run(refused.id)
        assert run.finished, f"the run is {run.status} with nothing left to run"
