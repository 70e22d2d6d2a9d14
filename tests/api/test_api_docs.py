"""docs/api.md says what the API answers: every run field, the health body, the paging."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api

from jobport.api.schemas import RunLinks, RunOut

API_DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def _row(path: str) -> str:
    """The endpoints table's row of ``path``."""
    (row,) = [line for line in API_DOC.splitlines() if line.startswith(f"| `{path}` |")]
    return row


def test_every_run_field_and_link_is_documented() -> None:
    described = API_DOC.split("A run (`RunOut`) carries", 1)[1].split("###", 1)[0]
    fields = [*RunOut.model_fields, *RunLinks.model_fields]
    missing = [name for name in fields if f"`{name}`" not in described]
    assert missing == []


def test_the_health_body_is_documented_as_it_is_answered(api: Api) -> None:
    assert api.client.get("/api/health").json() == {"status": "ok", "database": "not checked"}
    assert '`{"status": "ok", "database": "not checked"}`' in _row("GET /api/health")


def test_the_exports_list_documents_its_paging() -> None:
    row = _row("GET /api/exports")
    assert "`limit`" in row
    assert "`offset`" in row
