"""Templates over HTTP: the API's download (types the caller may start, else 404), and the
dashboard's link and download."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from tests.api.conftest import Api, MakeApi
from tests.unit.test_dashboard_pages import sign_in, site  # noqa: F401 (site: a fixture)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def demo(make_api: MakeApi) -> Api:
    return make_api(app="jobport.demo")


def test_a_template_downloads_with_its_type_and_name(demo: Api) -> None:
    response = demo.client.get("/api/job-types/customers/template?format=xlsx", headers=demo.auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"customers-template.xlsx\"; filename*=UTF-8''customers-template.xlsx"
    )
    assert response.content.startswith(b"PK\x03\x04")

    plain = demo.client.get("/api/job-types/customers/template", headers=demo.auth())
    assert plain.headers["content-type"] == "text/csv; charset=utf-8"
    header, example = csv.reader(io.StringIO(plain.text))
    assert header[:2] == ["id", "email"]
    assert example[:2] == ["1", "ada@example.com"]


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


def test_a_type_the_caller_may_not_start_or_not_an_import_has_no_template(
    make_api: MakeApi,
) -> None:
    api = make_api()
    url = "/api/job-types/items-restricted/template"
    assert "no import type 'items-restricted' you may start" in problem(
        api.client.get(url, headers=api.auth("alice")), 404
    )
    assert api.client.get(url, headers=api.auth("stocker")).status_code == 200
    problem(api.client.get("/api/job-types/nope/template", headers=api.auth()), 404)
    problem(api.client.get(url), 401)


def test_an_export_type_or_a_format_it_cannot_take_is_refused(demo: Api) -> None:
    export = demo.client.get("/api/job-types/customers-export/template", headers=demo.auth())
    assert "no import type 'customers-export'" in problem(export, 404)
    wrong = demo.client.get("/api/job-types/customers/template?format=jsonl", headers=demo.auth())
    assert "a template comes as csv or xlsx" in problem(wrong, 422)


# -- the dashboard ---------------------------------------------------------------------------


def test_the_import_page_links_the_templates_and_the_link_downloads(site: Any) -> None:  # noqa: F811
    sign_in(site, "bob")
    page = site.get("/import?type=customers").text
    links = re.findall(r'href="(/import/template\?[^"]+)"', page)
    assert links == [
        "/import/template?type=customers&amp;format=csv",
        "/import/template?type=customers&amp;format=xlsx",
    ]
    response = site.get(links[1].replace("&amp;", "&"))
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert "customers-template.xlsx" in response.headers["content-disposition"]


def test_the_import_page_says_each_column_in_words_as_the_template_does(site: Any) -> None:  # noqa: F811
    sign_in(site, "bob")
    page = site.get("/import?type=customers").text
    listed = dict(re.findall(r"<li><code>(\w+)</code> <span class=\"muted\">([^<]*)</span>", page))
    assert listed["age"] == "whole number, at least 18, at most 120"
    assert listed["signup_date"] == "date (YYYY-MM-DD)"
    assert listed["id"].endswith(", required")
    assert not any(":" in kind or "integer" in kind for kind in listed.values())
