"""The dashboard's mapping step, "Check the whole file" and "Import it", through the ASGI app.

SQLite and the inline executor (a run has ended when its start returns): a file
whose columns are not the fields' names goes to the mapping step, the chosen
mapping reaches the preview and the run, a dry run writes nothing and says what
it would do, and "Import it" imports the stored upload once.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from tests.unit import test_dashboard_pages as pages
from tests.unit.test_dashboard_pages import preview, sign_in

from jobport.kinds.params import RunParams
from jobport.web.mapping import build_step, match_words, problems

PEOPLE = (
    b"ID,E-mail,Frist name,Surname,Country\n"
    b"1,ada@example.com,Ada,Lovelace,GB\n"
    b"2,alan@example.com,Alan,Turing,GB\n"
    b"3,grace@example.com,Grace,Hopper,US\n"
)
#: The dashboard over SQLite and the inline executor, signed-in users admin and bob.
site = pages.site

CHOSEN = {
    "map:ID": "id",
    "map:E-mail": "email",
    "map:Frist name": "first_name",
    "map:Surname": "last_name",
    "map:Country": "country",
}


def customers(client: Any) -> list[tuple[Any, ...]]:
    with client.engine.database.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, email, first_name, last_name FROM customers"))
        return sorted(tuple(row) for row in rows)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found is not None, name
    return html.unescape(found.group(1))


def selected(page: str, header: str) -> str:
    """The option selected in the step's select of ``header``."""
    select = re.search(rf'name="map:{re.escape(header)}".*?</select>', page, re.S)
    assert select is not None, header
    option = re.search(r'<option value="([^"]*)"[^>]* selected>', select.group(0))
    assert option is not None, header
    return option.group(1)


def step_address(client: Any, csrf: str, content: bytes = PEOPLE) -> str:
    sent = preview(client, csrf, content)
    assert sent.status_code == 303, sent.text
    location: str = sent.headers["location"]
    return location


def test_a_file_with_other_names_goes_to_the_mapping_step_with_the_proposal(site: Any) -> None:
    csrf = sign_in(site, "bob")
    location = step_address(site, csrf)
    assert location.startswith("/import/mapping?")
    page = site.get(location).text
    assert "Match the columns of customers.csv" in page
    assert [selected(page, h) for h in ("ID", "E-mail", "Frist name", "Surname", "Country")] == [
        "id",
        "email",
        "first_name",
        "",  # no rule places Surname: ignored until the user says otherwise
        "country",
    ]
    assert re.search(r'id="match-2">likely \(90%\)<', page)
    assert re.search(r'id="match-1">exact<', page)
    assert re.search(r'id="match-3">no match<', page)
    assert "Ignore this column" in page
    examples = '<span class="examples" id="examples-3">e.g. <code>Lovelace</code>, '
    assert examples + "<code>Turing</code>, <code>Hopper</code></span>" in page
    missing = re.search(r'<p class="alert warn mapping-missing" id="mapping-missing"[^>]*>', page)
    assert missing is not None
    assert "hidden" not in missing.group(0)
    assert '<span id="mapping-missing-list">last_name</span>' in page
    assert 'src="/static/mapping.js"' in page
    assert site.get("/static/mapping.js").status_code == 200


def test_a_file_named_as_the_fields_skips_the_step_and_can_go_back_to_it(site: Any) -> None:
    csrf = sign_in(site, "bob")
    location = step_address(site, csrf, b"id,email,last_name,country\n1,a@b.co,Li,CN\n")
    assert location.startswith("/import/preview?")
    assert "map%3A" not in location  # the fields' own names: nothing to carry
    page = site.get(location).text
    assert "Columns matched by their names" in page
    back = re.search(r'href="(/import/mapping\?[^"]+)">Change the column mapping', page)
    assert back is not None
    step = site.get(html.unescape(back.group(1))).text
    assert selected(step, "last_name") == "last_name"


def test_a_field_chosen_twice_or_a_required_one_left_out_comes_back_to_the_step(
    site: Any,
) -> None:
    csrf = sign_in(site, "bob")
    query = dict(parse_qsl(urlsplit(step_address(site, csrf)).query))
    twice = {**query, **CHOSEN, "map:Frist name": "last_name"}
    page = site.get("/import/preview?" + urlencode(twice))
    assert page.status_code == 422
    text = html.unescape(page.text)
    assert "'last_name' is chosen for 2 columns (Frist name, Surname)" in text
    assert "Match the columns of customers.csv" in text
    assert selected(page.text, "Frist name") == "last_name"  # the choices are kept
    assert re.search(r'id="match-2">your choice<', page.text)

    left_out = {**query, **CHOSEN, "map:Surname": ""}
    page = site.get("/import/preview?" + urlencode(left_out))
    assert page.status_code == 422
    assert "no column is chosen for the required field(s) last_name" in page.text

    unknown = {**query, **CHOSEN, "map:Frist name": "nickname"}
    page = site.get("/import/preview?" + urlencode(unknown))
    assert page.status_code == 422
    assert "which is not a field of &#39;customers&#39;" in page.text
    assert customers(site) == []


def test_the_chosen_mapping_reaches_the_preview_the_run_and_check_the_whole_file(
    site: Any,
) -> None:
    csrf = sign_in(site, "bob")
    query = dict(parse_qsl(urlsplit(step_address(site, csrf)).query))
    page = site.get("/import/preview?" + urlencode({**query, **CHOSEN}))
    assert page.status_code == 200, page.text
    assert "Nothing has been written yet" in page.text
    assert "Columns matched as you chose" in page.text
    assert '<span class="fed">→ last_name</span>' in page.text
    read = json.loads(hidden(page.text, "read"))
    assert read["mapping"] == {k.removeprefix("map:"): v for k, v in CHOSEN.items()}

    start = {
        "csrf_token": csrf,
        "type": "customers",
        "staged": hidden(page.text, "staged"),
        "options": hidden(page.text, "options"),
        "format": "csv",
        "read": hidden(page.text, "read"),
    }
    checked = site.post("/import/start", data={**start, "check": "1"}, follow_redirects=False)
    assert checked.status_code == 303
    dry_id = checked.headers["location"].rsplit("/", 1)[1]
    dry = site.engine.store.get_run(dry_id)
    assert dry.dry_run
    assert dry.status == "completed", dry.error
    assert RunParams.of(dry.params).read["mapping"]["Surname"] == "last_name"
    assert customers(site) == []  # nothing written

    shown = site.get(f"/runs/{dry_id}").text
    assert "Dry run — nothing was written" in shown
    assert re.search(r'id="run-valid">3<', shown)
    would = "Would create <strong>3</strong>, update <strong>0</strong>, leave <strong>0</strong>"
    assert would in shown
    assert 'id="import-it"' in shown
    assert "dry run</span>" in site.get("/history").text

    refused = site.post(f"/runs/{dry_id}/import", data={}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token: nothing started
    assert customers(site) == []

    imported = site.post(f"/runs/{dry_id}/import", data={"csrf_token": csrf})
    assert imported.status_code == 200
    real_id = imported.url.path.rsplit("/", 1)[1]
    assert real_id != dry_id
    assert "Created <strong>3</strong>, updated <strong>0</strong>" in imported.text
    assert customers(site) == [
        (1, "ada@example.com", "Ada", "Lovelace"),
        (2, "alan@example.com", "Alan", "Turing"),
        (3, "grace@example.com", "Grace", "Hopper"),
    ]
    again = site.get(f"/runs/{dry_id}").text
    assert 'id="import-it"' not in again
    assert f'href="/runs/{real_id}"' in again
    twice = site.post(f"/runs/{dry_id}/import", data={"csrf_token": csrf})
    assert twice.status_code == 409
    assert "was already imported" in twice.text

    # The mapping confirmed was saved: the same columns next time go straight to the
    # preview, matched as saved, and the step (one click away) says so.
    location = step_address(site, csrf)
    assert location.startswith("/import/preview?")
    assert "map%3ASurname=last_name" in location
    again_preview = site.get(location).text
    back = re.search(r'href="(/import/mapping\?[^"]+)">Change the column mapping', again_preview)
    assert back is not None
    step = site.get(html.unescape(back.group(1))).text
    assert re.search(r'id="match-3">saved mapping<', step)
    assert "matched as you saved for this header" in step


def test_the_steps_words_and_checks() -> None:
    assert [match_words(s, 87) for s in ("exact", "synonym", "fuzzy", "saved", None)] == [
        "exact",
        "synonym",
        "likely (87%)",
        "saved mapping",
        "no match",
    ]
    assert problems({"A": "email", "B": "email", "C": ""}, ["email", "id"]) == [
        "'email' is chosen for 2 columns (A, B); a field takes one column: ignore the "
        "others or choose another field",
        "no column is chosen for the required field(s) id; choose the column that holds each",
    ]
    assert problems({"A": "email", "B": "id"}, ["email", "id"]) == []
    assert build_step.__doc__
