"""Headers that feed no field are named by every face: the API's run, the CLI's output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.api.conftest import MakeApi
from tests.conftest import ROOT
from tests.unit.test_dashboard_pages import customers_file, preview, sign_in, site  # noqa: F401

from jobport.demo.data import write_csv


def test_the_api_run_names_ignored_columns(make_api: MakeApi) -> None:
    api = make_api()
    response = api.upload("items", b"id,name,qty,Colour\n1,a,2,red\n")
    assert response.status_code == 202, response.text
    run = api.run_json(response.json()["id"])
    assert run["status"] == "completed"
    assert run["warnings"] == ["1 column matches no field of 'items' and was ignored: Colour"]


def test_the_cli_names_ignored_columns(tmp_path: Path) -> None:
    write_csv(tmp_path / "full.csv", 3)
    lines = (tmp_path / "full.csv").read_text(encoding="utf-8").splitlines()
    renamed = [lines[0].replace("first_name", "Nickname"), *lines[1:]]
    (tmp_path / "renamed.csv").write_text("\n".join(renamed) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env.update(
        JOBPORT_DATABASE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        JOBPORT_STORAGE_URL=str(tmp_path / "files"),
        JOBPORT_APP="jobport.demo",
        JOBPORT_EXECUTOR="inline",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-m", "jobport.cli", "import", "customers", "renamed.csv", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warning = "1 column matches no field of 'customers' and was ignored: Nickname"
    assert done.stderr.strip() == f"warning: {warning}"
    assert json.loads(done.stdout)["warnings"] == [warning]


def test_the_dashboard_preview_names_ignored_columns(site: Any) -> None:  # noqa: F811 (fixture)
    csrf = sign_in(site, "bob")
    lines = customers_file(site, rows=3).read_text(encoding="utf-8").splitlines()
    renamed = "\n".join([lines[0].replace("first_name", "Nickname"), *lines[1:]]) + "\n"
    sent = preview(site, csrf, renamed.encode())
    assert sent.status_code == 303
    # A column no rule places goes through the mapping step, which names it as matching
    # nothing; left on "ignore", the preview shows it as not imported.
    step = sent.headers["location"]
    assert step.startswith("/import/mapping?")
    page = site.get(step).text
    assert proposed(page, "Nickname") == ""
    assert ">no match<" in page
    header = renamed.splitlines()[0].split(",")
    chosen = {f"map:{name}": proposed(page, name) for name in header}
    query = {**dict(parse_qsl(urlsplit(step).query)), **chosen}
    shown = site.get("/import/preview?" + urlencode(query))
    assert shown.status_code == 200, shown.text
    assert '<th scope="col" class="unused" title="not imported">Nickname</th>' in shown.text


def proposed(page: str, header: str) -> str:
    """The field the mapping step proposes for ``header`` (its select's chosen option)."""
    select = re.search(rf'name="map:{re.escape(header)}".*?</select>', page, re.S)
    assert select is not None, header
    option = re.search(r'<option value="([^"]*)"[^>]* selected>', select.group(0))
    return option.group(1) if option is not None else ""
