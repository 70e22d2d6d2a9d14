"""Dry runs through the API: ``dry_run=true`` on an upload, then ``POST /api/jobs/{id}/import``.

The dry run writes nothing and reports what the import would do; importing it
starts the real run from the stored upload (nothing is sent again) with the
same counts; a second import, another user's dry run and a run that is not a
dry run are refused as problems.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from tests.api.conftest import Api, items_csv
from tests.api.live_app import items


def _count(api: Api) -> int:
    with api.engine.database.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one())


def _import(api: Api, run_id: str, user: str = "alice") -> Any:
    return api.client.post(f"/api/jobs/{run_id}/import", headers=api.auth(user))


def test_a_dry_run_is_checked_then_imported_without_sending_the_file(api: Api) -> None:
    api.upload("items", items_csv(120))  # 120 rows there already
    response = api.upload("items", items_csv(250, bad_every=50), dry_run="true")
    assert response.status_code == 202, response.text
    dry = response.json()
    assert (dry["dry_run"], dry["status"]) == (True, "completed_with_errors")
    assert (dry["processed"], dry["failed"]) == (250, 5)
    # Rows 1-120 hold these values already (but row 50 and 100 fail); 121-250 are new.
    assert (dry["created"], dry["updated"], dry["unchanged"]) == (127, 0, 118)
    assert _count(api) == 120
    assert _import(api, dry["id"], user="bob").status_code == 404  # not bob's to see
    response = _import(api, dry["id"])
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["location"] == f"/api/jobs/{run['id']}"
    assert (run["dry_run"], run["status"], run["source_name"]) == (
        False,
        "completed_with_errors",
        "items.csv",
    )
    assert (run["created"], run["updated"], run["unchanged"]) == (127, 0, 118)
    assert _count(api) == 247
    assert api.run_json(dry["id"])["result"] == {"imported_as": run["id"]}
    again = _import(api, dry["id"])
    assert again.status_code == 409
    assert f"already imported as run {run['id']}" in again.json()["detail"]
    not_dry = _import(api, run["id"])
    assert not_dry.status_code == 422
    assert "is not a dry run" in not_dry.json()["detail"]
