"""The API's column mapping: the proposal for a header, an upload's mapping, and the one saved."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api, MakeApi


def proposal(api: Api, type_: str, *headers: str, user: str = "alice") -> Any:
    return api.client.get(
        f"/api/job-types/{type_}/mapping",
        params=[("headers", name) for name in headers],
        headers=api.auth(user),
    )


def test_the_proposal_places_each_column_and_names_what_is_missing(make_api: MakeApi) -> None:
    api = make_api()
    response = proposal(api, "items", "Item-Name", "QTY.", "Colour")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "columns": [
            {"header": "Item-Name", "field": None, "score": 0, "source": None},
            {"header": "QTY.", "field": "qty", "score": 100, "source": "exact"},
            {"header": "Colour", "field": None, "score": 0, "source": None},
        ],
        "missing_required": ["id", "name"],
        "fields": [
            {"name": "id", "title": None, "required": True, "description": "Matched on this."},
            {"name": "name", "title": None, "required": True, "description": ""},
            {"name": "qty", "title": None, "required": False, "description": ""},
        ],
        "saved_at": None,
        "notes": [],
    }


def test_a_mapping_given_with_an_upload_is_used_saved_and_proposed_again(
    make_api: MakeApi,
) -> None:
    api = make_api()
    file = b"Ref,Label,Quantity,Colour\n1,bolt,5,red\n2,nut,7,blue\n"
    mapping = {"Ref": "id", "Label": "name", "Quantity": "qty", "Colour": ""}
    started = api.upload("items", file, mapping=json.dumps(mapping))
    assert started.status_code == 202, started.text
    run = api.run_json(started.json()["id"])
    assert (run["status"], run["processed"], run["warnings"]) == ("completed", 2, [])

    again = proposal(api, "items", "ref", "LABEL", "Quantity", "Colour", user="bob")
    assert again.status_code == 200, again.text
    body = again.json()
    assert [(c["field"], c["source"]) for c in body["columns"]] == [
        ("id", "saved"),
        ("name", "saved"),
        ("qty", "saved"),
        (None, "saved"),
    ]
    assert body["missing_required"] == []
    assert body["saved_at"] is not None

    # The same header (another order) with no mapping: the saved one, said so.
    reordered = b"Colour,Quantity,Label,Ref\ngreen,9,washer,3\n"
    second = api.upload("items", reordered, user="bob")
    assert second.status_code == 202, second.text
    run = api.run_json(second.json()["id"])
    assert run["status"] == "completed", run["error"]
    assert len(run["warnings"]) == 1
    assert run["warnings"][0].startswith("used the mapping saved on ")
    assert run["warnings"][0].endswith(" for this header")


def test_a_refused_start_saves_no_mapping(make_api: MakeApi) -> None:
    api = make_api()
    started = api.upload(
        "items", b"Ref,Label\n1,bolt\n", mapping=json.dumps({"Ref": "id", "Label": "title"})
    )
    assert started.status_code == 202, started.text
    run = api.run_json(started.json()["id"])
    assert run["status"] == "failed"
    assert run["error"] == (
        "the mapping feeds 'title', which is not a field of 'items'; its fields: id, name, qty"
    )
    body = proposal(api, "items", "Ref", "Label").json()
    assert [c["source"] for c in body["columns"]] == [None, None]


def test_unknown_and_forbidden_types_are_404_and_bad_headers_422(make_api: MakeApi) -> None:
    api = make_api()
    assert proposal(api, "nope", "id").status_code == 404
    forbidden = proposal(api, "items-restricted", "id")
    assert forbidden.status_code == 404
    assert "items-restricted" in forbidden.json()["detail"]  # named as asked, not listed
    assert "known types" in forbidden.json()["detail"]
    assert "items-restricted" not in forbidden.json()["detail"].split("known types")[1]
    assert proposal(api, "items-restricted", "id", user="stocker").status_code == 200

    twice = proposal(api, "items", "id", "ID")
    assert twice.status_code == 422
    assert twice.json()["detail"] == "column 'ID' appears twice in the header"
    assert proposal(api, "items", "x" * 1_001).status_code == 422
    assert proposal(api, "items").status_code == 422


def test_a_type_that_is_not_an_import_is_a_422_saying_what_it_is(make_api: MakeApi) -> None:
    api = make_api(app="jobport.demo")
    response = proposal(api, "customers-export", "id")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("'customers-export' is an export type, not an import; ")
    assert "import types: customers" in detail
    assert "unknown" not in detail


def test_the_header_is_held_to_the_column_limit(make_api: MakeApi) -> None:
    api = make_api(max_columns=3)
    response = proposal(api, "items", "a", "b", "c", "d")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the header has 4 columns, over the limit of 3 (raise it with the type's limits "
        "or JOBPORT_MAX_COLUMNS)"
    )


def test_the_openapi_document_has_the_proposal(make_api: MakeApi) -> None:
    api = make_api()
    paths = api.client.get("/openapi.json").json()["paths"]
    route = paths["/api/job-types/{type}/mapping"]["get"]
    assert {p["name"] for p in route["parameters"]} == {"type", "headers"}
    assert {"200", "404", "422"} <= set(route["responses"])
