"""What the bookshop's tests share: the shop under test and how they talk to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from examples.bookshop.db import Database


@dataclass
class Shop:
    client: TestClient
    database: Database
    keys: dict[str, str]

    def key(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]}

    def upload(self, who: str, content: bytes, name: str = "books.csv") -> dict[str, Any]:
        response = self.client.post(
            "/jobs/api/imports/books",
            headers=self.key(who),
            files={"file": (name, content, "text/csv")},
        )
        assert response.status_code == 202, response.text
        return self.run(who, response.json()["id"])

    def export(self, who: str, type_: str, **body: Any) -> dict[str, Any]:
        response = self.client.post(
            "/jobs/api/exports", headers=self.key(who), json={"type": type_, **body}
        )
        assert response.status_code == 202, response.text
        return self.run(who, response.json()["id"])

    def run(self, who: str, run_id: str) -> dict[str, Any]:
        response = self.client.get(f"/jobs/api/jobs/{run_id}", headers=self.key(who))
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run
