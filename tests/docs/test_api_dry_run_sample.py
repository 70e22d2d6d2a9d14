"""docs/api.md's dry-run upload, replayed against the demo app, is a dry run: it is marked so,
writes no customer, and ``POST /api/jobs/{id}/import`` then imports what it checked.

(Unknown form fields are ignored, so a sample that misspelt ``dry_run`` would import for real
and still be accepted by test_docs_samples' replay.)"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.docs.test_docs_samples import ROOT, curl_requests

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.demo import customers
from jobport.demo.data import write_csv
from jobport.server import create_app

ROWS = 20


def stored_customers(engine: Jobport) -> int:
    with engine.database.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one())


def test_the_documented_dry_run_writes_nothing_and_imports_after(tmp_path: Path) -> None:
    [request] = [r for r in curl_requests(ROOT / "docs" / "api.md") if "dry_run" in r.fields]
    assert request.path == "/api/imports/customers"
    write_csv(tmp_path / "customers.csv", ROWS)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobport.db'}",
        storage_url=str(tmp_path / "files"),
        app="jobport.demo",
        executor="inline",
    )
    with Jobport(settings) as engine, TestClient(create_app(engine)) as client:
        _, token = create_user(engine.store, "root", is_admin=True)
        headers = {k: v.replace("$TOKEN", token) for k, v in request.headers.items()}
        files = {f: (name, (tmp_path / name).read_bytes()) for f, name in request.files.items()}
        checked = client.post(request.path, headers=headers, data=request.fields, files=files)
        assert checked.status_code == 202, checked.text
        run = checked.json()
        assert (run["dry_run"], run["status"], run["created"]) == (True, "completed", ROWS)
        assert stored_customers(engine) == 0

        imported = client.post(f"/api/jobs/{run['id']}/import", headers=headers)
        assert imported.status_code == 202, imported.text
        assert (imported.json()["dry_run"], imported.json()["status"]) == (False, "completed")
        assert stored_customers(engine) == ROWS
